// malloc/free-heavy load for the memleak benchmark: keeps a window of live blocks (so frees
// hit tracked addresses) and replaces the oldest block on each step.
//   malloc-churn PAIRS [WINDOW]   prints "ready", waits for a line on stdin (tracers attach
//                                 meanwhile), runs, prints {"pairs":N,"seconds":S}
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void *alloc_block(long i)
{
	return malloc(16 + (i & 255));
}

int main(int argc, char **argv)
{
	long pairs = argc > 1 ? atol(argv[1]) : 1000000;
	long window = argc > 2 ? atol(argv[2]) : 1024;
	void **live = calloc(window, sizeof(void *));
	char line[16];

	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	double start = now_s();
	for (long i = 0; i < pairs; i++) {
		long slot = i % window;

		free(live[slot]);
		live[slot] = alloc_block(i);
	}
	double seconds = now_s() - start;
	printf("{\"pairs\":%ld,\"seconds\":%.6f}\n", pairs, seconds);
	return 0;
}
