/* procstat events: one process's (thread group's) memory counters as its mm_struct holds them,
 * in pages except pgtables_bytes; and the record that says a process is gone. The /proc/PID/status
 * fields are derived in src/probes/procstat.ts. */
#ifndef MEMWATCHER_PROCSTAT_H
#define MEMWATCHER_PROCSTAT_H

#include "common.h"

/* Members of mm->rss_stat, in the kernel's order (MM_FILEPAGES .. MM_SHMEMPAGES, stable since
 * 4.5). */
enum procstat_rss_member {
	PROCSTAT_RSS_FILE,
	PROCSTAT_RSS_ANON,
	PROCSTAT_RSS_SWAP,
	PROCSTAT_RSS_SHMEM,
	PROCSTAT_RSS_NR,
};

struct procstat_values {
	__u64 total_vm;		/* pages: VmSize */
	__u64 hiwater_rss;	/* pages: updated only when RSS is about to drop; VmHWM is
				 * max(hiwater_rss, current RSS) */
	__u64 data_vm;		/* pages: VmData */
	__u64 stack_vm;		/* pages: VmStk */
	__u64 pgtables_bytes;	/* bytes: VmPTE */
	__u64 rss[PROCSTAT_RSS_NR];	/* pages, exact (per-CPU deltas included), >= 0 */
};

struct procstat_event {
	struct mw_event_header hdr;	/* MW_EVENT_PROCSTAT */
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns;		/* group leader's start_boottime: tells a reused pid apart */
	char comm[MW_TASK_COMM_LEN];	/* group leader's comm */
	struct procstat_values v;
};

struct procstat_exit_event {
	struct mw_event_header hdr;	/* MW_EVENT_PROCSTAT_EXIT */
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns;
};

#endif
