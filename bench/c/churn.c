// Process churn: N short-lived processes, up to K alive at once, each touching some memory
// (so per-process probes see it) and exiting after a moment.
//   churn N [K] [KIB]      prints {"procs":N,"seconds":S}
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	long n = argc > 1 ? atol(argv[1]) : 10000;
	long k = argc > 2 ? atol(argv[2]) : 16;
	size_t kib = argc > 3 ? atol(argv[3]) : 512;
	long started = 0, alive = 0;
	double start = now_s();

	while (started < n || alive > 0) {
		if (started < n && alive < k) {
			pid_t pid = fork();

			if (pid < 0)
				return 1;
			if (pid == 0) {
				char *p = malloc(kib << 10);

				if (p)
					memset(p, 1, kib << 10);
				usleep(2000);
				_exit(0);
			}
			started++;
			alive++;
			continue;
		}
		if (wait(NULL) > 0)
			alive--;
	}
	printf("{\"procs\":%ld,\"seconds\":%.6f}\n", n, now_s() - start);
	return 0;
}
