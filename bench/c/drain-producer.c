// Fires the drain benchmark's trigger (getppid, traced by bpf/bench_drain.bpf.c) at a paced
// rate. Waits for a line on stdin (the loader needs our pid before it loads the program), runs
// for the given seconds, then prints what it did as JSON.
//   drain-producer TRIGGERS_PER_SEC SECONDS [CPU]    (TRIGGERS_PER_SEC 0: as fast as possible)
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
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
	double rate, secs, start, t;
	unsigned long long done = 0, fired = 0, burst;
	char line[16];

	if (argc < 3) {
		fprintf(stderr, "usage: %s TRIGGERS_PER_SEC SECONDS [CPU]\n", argv[0]);
		return 2;
	}
	rate = atof(argv[1]);
	secs = atof(argv[2]);
	burst = rate > 20 ? (unsigned long long)(rate / 20) : 1;	/* 50 ms of schedule */
	if (argc > 3) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(atoi(argv[3]), &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	start = now_s();
	for (;;) {
		t = now_s() - start;
		if (t >= secs)
			break;
		/* keep to the schedule; the clock read is a vDSO call */
		unsigned long long due = rate > 0 ? (unsigned long long)(t * rate) + 1 : fired + 64;

		/* After a long stall (descheduled on a busy host), do not fire all the missed
		 * triggers in one burst, which would offer far more than the rate for a while:
		 * catch up at most 50 ms of the schedule and skip the rest. */
		if (rate > 0 && due > done + burst)
			done = due - burst;
		while (done < due) {
			syscall(SYS_getppid);
			done++;
			fired++;
		}
	}
	printf("{\"triggers\":%llu,\"seconds\":%.6f}\n", fired, now_s() - start);
	return 0;
}
