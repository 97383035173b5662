// N live, sleeping processes (for the scaling benchmark: procstat's iterator visits every one
// each interval). Each child touches KIB of its own memory and pauses; it dies with the parent
// (PR_SET_PDEATHSIG) if that is killed first.
//   sleepers N [KIB]   prints {"procs":N,"seconds":S} once every child is up, then waits for
//                      EOF on stdin, kills and reaps the children, and exits
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
	long n = argc > 1 ? atol(argv[1]) : 1000;
	size_t kib = argc > 2 ? atol(argv[2]) : 32;
	pid_t parent = getpid();
	pid_t *pids = calloc(n > 0 ? n : 1, sizeof(pid_t));
	int up[2];
	char buf[4096];
	double start = now_s();
	long ready = 0;

	if (!pids || pipe(up))
		return 1;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			kill(0, SIGKILL);
			return 1;
		}
		if (pid == 0) {
			char *p;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			close(up[0]);
			p = malloc(kib << 10);
			if (p)
				memset(p, 1, kib << 10);
			if (write(up[1], "x", 1) != 1)
				_exit(1);
			close(up[1]);
			for (;;)
				pause();
		}
		pids[i] = pid;
	}
	close(up[1]);
	while (ready < n) {
		ssize_t r = read(up[0], buf, sizeof(buf));

		if (r <= 0)
			return 1;
		ready += r;
	}
	printf("{\"procs\":%ld,\"seconds\":%.6f}\n", n, now_s() - start);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	for (long i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	return 0;
}
