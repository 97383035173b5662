// malloc/free pairs at a chosen stack depth, for memleak's unwinder bench (bench/memleak-unwind.ts):
// recurses DEPTH noinline frames, then churns as malloc-churn.c does from the bottom.
//   malloc-depth DEPTH PAIRS   prints "ready", waits for a line on stdin, runs,
//                              prints {"pairs":N,"seconds":S}
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WINDOW 1024

volatile long sink;

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

__attribute__((noinline)) static void churn(long pairs)
{
	static void *live[WINDOW];

	for (long i = 0; i < pairs; i++) {
		long slot = i % WINDOW;

		free(live[slot]);
		live[slot] = alloc_block(i);
	}
}

// Not a tail call (work after it): each level is a frame on the stack.
__attribute__((noinline)) static void descend(int depth, long pairs)
{
	if (depth > 0)
		descend(depth - 1, pairs);
	else
		churn(pairs);
	sink += depth;
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? atoi(argv[1]) : 32;
	long pairs = argc > 2 ? atol(argv[2]) : 100000;
	char line[16];

	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	double start = now_s();
	// main, descend x (depth - 2), churn: `depth` frames of the program above malloc
	// (alloc_block tail-calls it), then the C library's start-up and _start.
	descend(depth > 3 ? depth - 3 : 0, pairs);
	double seconds = now_s() - start;
	printf("{\"pairs\":%ld,\"seconds\":%.6f}\n", pairs, seconds);
	return 0;
}
