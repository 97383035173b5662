// Page-fault and allocation storm: map anonymous memory, touch every page (one fault and one
// page allocation each, plus the RSS counter updates), unmap (the pages freed), repeat.
//   pagefault-storm SECONDS [MIB_PER_ROUND]      prints {"pages":N,"seconds":S}
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1;
	size_t len = (size_t)(argc > 2 ? atol(argv[2]) : 16) << 20;
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long pages = 0;
	double start = now_s(), t;

	do {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return 1;
		for (size_t off = 0; off < len; off += page)
			p[off] = 1;
		munmap(p, len);
		pages += len / page;
		t = now_s() - start;
	} while (t < secs);
	printf("{\"pages\":%llu,\"seconds\":%.6f}\n", pages, t);
	return 0;
}
