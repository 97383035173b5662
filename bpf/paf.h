/* paf events: page allocation failures and the zone state of the failing node. Every record has
 * type MW_EVENT_PAF and a kind after the header; src/probes/paf.ts decodes both kinds and checks
 * PAF_*_SIZE. Exact failure counts per (order, gfp) and reclaim retry counts live in hash maps
 * that user space reads in batches, so they stay exact when the ring buffer overflows. */
#ifndef MEMWATCHER_PAF_H
#define MEMWATCHER_PAF_H

#include "common.h"

#define PAF_STACK_DEPTH 64

enum paf_kind {
	PAF_KIND_FAILURE = 1,
	PAF_KIND_ZONES = 2,	/* periodic snapshot, sent when it changed */
};

/* How the failure was seen: the NULL-page tracepoint, or a NULL return of __alloc_pages. */
enum paf_source {
	PAF_SOURCE_TRACEPOINT = 1,
	PAF_SOURCE_KRETPROBE = 2,
};

struct paf_zones {
	__u32 node;
	__u32 nr_zones;	/* MAX_NR_ZONES of the running kernel (capped at MW_MAX_ZONES); 0: unreadable */
	struct mw_zone zones[MW_MAX_ZONES];
};

struct paf_zones_event {
	struct mw_event_header hdr;
	__u32 kind;	/* PAF_KIND_ZONES */
	__u32 _pad;
	struct paf_zones z;
};

struct paf_failure_event {
	struct mw_event_header hdr;
	__u32 kind;	/* PAF_KIND_FAILURE */
	__u32 order;
	__u64 gfp;
	__s32 migratetype;	/* -1: not known to this hook */
	__s32 stack_id;		/* id in the `stacks` map, or a negative errno */
	__u32 pid;		/* thread id */
	__u32 tgid;
	char comm[MW_TASK_COMM_LEN];
	__u32 source;		/* enum paf_source */
	__s32 preferred_node;	/* -1: not known to this hook */
	struct paf_zones z;	/* the node the allocating CPU is on, at the moment of failure */
};

struct paf_count_key {
	__u64 gfp;
	__u32 order;
	__u32 _pad;
};

struct paf_retry_key {
	__s32 node;
	__s32 zone_idx;
	__s32 order;
	__u32 _pad;
};

/* Count of oom:reclaim_retry_zone hits, and the arguments of the latest one. */
struct paf_retry_val {
	__u64 count;
	__u64 reclaimable;
	__u64 available;
	__u64 min_wmark;
	__s32 no_progress_loops;
	__u32 wmark_check;
};

#endif
