// N live heap blocks from four call sites (four distinct stacks, four sizes), for memleak's
// scaling benchmark: the report must count every block.
//   malloc-hold N    prints "ready", waits for a line on stdin (the tracer attaches meanwhile),
//                    mallocs N blocks round robin over the sites and keeps them, prints
//                    {"blocks":N,"seconds":S,"sites":[{"function":F,"size":B,"count":C},...]},
//                    then waits for EOF on stdin and exits without freeing them
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Built with -fno-optimize-sibling-calls: each site keeps its frame, so its stack is its own. */
#define SITE(name, size)                                   \
	__attribute__((noinline)) static void *name(void)  \
	{                                                  \
		return malloc(size);                       \
	}
SITE(hold_site_a, 24)
SITE(hold_site_b, 40)
SITE(hold_site_c, 72)
SITE(hold_site_d, 136)

static const struct {
	const char *name;
	void *(*fn)(void);
	size_t size;
} sites[] = {
	{ "hold_site_a", hold_site_a, 24 },
	{ "hold_site_b", hold_site_b, 40 },
	{ "hold_site_c", hold_site_c, 72 },
	{ "hold_site_d", hold_site_d, 136 },
};
#define NSITES (sizeof(sites) / sizeof(sites[0]))

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	/* Allocated before the tracer attaches: only the N blocks are allocated under trace. */
	void **blocks = calloc(n > 0 ? n : 1, sizeof(void *));
	long count[NSITES] = { 0 };
	char line[64];

	if (!blocks)
		return 1;
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	double start = now_s();
	for (long i = 0; i < n; i++) {
		blocks[i] = sites[i % NSITES].fn();
		if (!blocks[i])
			return 1;
		count[i % NSITES]++;
	}
	double seconds = now_s() - start;
	printf("{\"blocks\":%ld,\"seconds\":%.6f,\"sites\":[", n, seconds);
	for (unsigned s = 0; s < NSITES; s++)
		printf("%s{\"function\":\"%s\",\"size\":%zu,\"count\":%ld}", s ? "," : "", sites[s].name, sites[s].size, count[s]);
	printf("]}\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
