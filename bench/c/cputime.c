// Runs a command and reports the CPU time it and the children it waited for used (wait4's
// rusage), so a storm's throughput can be given per CPU-second it actually ran: on a shared
// host, time spent waiting for other tenants then does not count as slowness.
//   cputime CMD [ARGS...]    CMD's output as is, then on stderr:
//   cputime: {"user":U,"sys":S,"wall":W}
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double secs(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	double start = now_s();
	int status;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return 1;
	fprintf(stderr, "cputime: {\"user\":%.6f,\"sys\":%.6f,\"wall\":%.6f}\n", secs(ru.ru_utime),
		secs(ru.ru_stime), now_s() - start);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
