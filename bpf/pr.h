/* pr (page reclaim): what the kernel and src/probes/pr.ts both read.
 *
 * Per-pass numbers are summed in the kernel into one per-CPU `pr_totals` value (one array
 * entry), read by user space once per interval. Only the end of a direct or memcg reclaim call
 * crosses to user space on its own, as a `pr_stall_event` in the ring buffer. */
#ifndef MEMWATCHER_PR_H
#define MEMWATCHER_PR_H

#include "common.h"

enum pr_source {
	PR_SOURCE_KSWAPD,
	PR_SOURCE_DIRECT,
	PR_SOURCE_MEMCG,
	PR_NR_SOURCES,
};

/* Cumulative since load, per source; user space sums the CPUs. Pages unless said otherwise. */
struct pr_counters {
	/* mm_vmscan_lru_shrink_inactive, one pass of shrink_inactive_list */
	__u64 passes;
	__u64 scanned;
	__u64 reclaimed;
	__u64 unqueued_dirty;	/* tp_btf only: the classic event has no such field */
	__u64 congested;
	__u64 writeback;
	__u64 immediate;
	__u64 activated;	/* anon + file */
	/* shrink_folio_list (kprobe/fentry strategies only) */
	__u64 folio_lists;	/* calls */
	__u64 nr_to_reclaim;	/* sum of scan_control.nr_to_reclaim over those calls */
	/* direct and memcg reclaim calls, *_reclaim_begin to *_reclaim_end */
	__u64 calls;
	__u64 call_reclaimed;	/* sum of the end events' nr_reclaimed (includes slab) */
	__u64 stall_ns;
};

#define PR_NR_COUNTERS 13

struct pr_totals {
	struct pr_counters src[PR_NR_SOURCES];
};

/* One direct or memcg reclaim call that ended. */
struct pr_stall_event {
	struct mw_event_header hdr;
	__u32 source;		/* PR_SOURCE_DIRECT or PR_SOURCE_MEMCG */
	__u32 tid;
	__u64 duration_ns;
	__u64 nr_reclaimed;
	__u64 gfp;		/* of the begin event */
	__s32 order;
	__u32 _pad;
	char comm[MW_TASK_COMM_LEN];
};

#endif
