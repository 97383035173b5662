// Context-switch storm, the same exchange as `perf bench sched pipe`: two processes pass one
// byte back and forth over two pipes, so every round trip is two wake-ups and two switches.
//   pipe-pingpong LOOPS      prints {"loops":N,"seconds":S}
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
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
	long loops = argc > 1 ? atol(argv[1]) : 100000;
	int ping[2], pong[2];
	char b = 0;
	double start;
	pid_t child;

	if (pipe(ping) || pipe(pong))
		return 1;
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		for (long i = 0; i < loops; i++) {
			if (read(ping[0], &b, 1) != 1 || write(pong[1], &b, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	start = now_s();
	for (long i = 0; i < loops; i++) {
		if (write(ping[1], &b, 1) != 1 || read(pong[0], &b, 1) != 1)
			return 1;
	}
	double secs = now_s() - start;
	waitpid(child, NULL, 0);
	printf("{\"loops\":%ld,\"seconds\":%.6f}\n", loops, secs);
	return 0;
}
