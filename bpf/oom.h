/* oom events: one record per OOM kill (the kernel's mark_victim) and one per step of the
 * victim's memory coming back (reaper tracepoints, the victim's mm torn down). Every record has
 * type MW_EVENT_OOM and a kind after the header; src/probes/oom/record.ts declares the same
 * layouts once and checks OOM_*_SIZE. Amounts are in pages unless the name says bytes. */
#ifndef MEMWATCHER_OOM_H
#define MEMWATCHER_OOM_H

#include "common.h"

#define OOM_MEMCG_DEPTH 8	/* a task's memcg and up to 7 ancestors, root included */
#define OOM_LEADUP_LEN 8	/* the trigger's most recent slow-path retries */

enum oom_kind {
	OOM_KIND_KILL = 1,
	OOM_KIND_REAP = 2,
};

/* How mark_victim was seen. */
enum oom_hook {
	OOM_HOOK_TP_BTF = 1,	/* tp_btf: the victim's task_struct is an argument (6.9+; stable 5.10.y and 6.1.y backports) */
	OOM_HOOK_TRACEPOINT = 2,	/* classic: the victim by pid; its task from another hook */
};

/* oom_kill_event.flags */
#define OOM_F_VICTIM_TASK	(1u << 0)	/* victim fields read from its task_struct and mm */
#define OOM_F_TP_FIELDS		(1u << 1)	/* victim RSS fields from the tracepoint's own record */
#define OOM_F_CTL		(1u << 2)	/* ctl holds oom_control (kprobe/fentry oom_kill_process) */
#define OOM_F_NO_MM		(1u << 3)	/* the victim had no mm left to read */

/* A memory cgroup as its page counters hold it at the moment of the kill. */
struct oom_memcg {
	__u64 cgroup_id;	/* kernfs id of its cgroup: the inode of its directory */
	__u64 usage;		/* memory page_counter */
	__u64 max;		/* PAGE_COUNTER_MAX (LONG_MAX / PAGE_SIZE) when unlimited */
	__u64 swap_usage;	/* the memsw counter on cgroup v1, swap on v2 */
	__u64 swap_max;
	__u64 oom_kill;		/* memory_events[MEMCG_OOM_KILL] */
};

struct oom_memcg_chain {
	__u32 depth;		/* entries read; 0: no memory controller */
	__u32 _pad;
	struct oom_memcg m[OOM_MEMCG_DEPTH];
};

/* What oom_kill_process's struct oom_control says (only with a kprobe or fentry on it). */
struct oom_ctl {
	__u64 gfp;
	__u64 totalpages;
	__s64 chosen_points;
	__u64 memcg_cgroup_id;	/* 0: not a memcg OOM */
	__s32 order;
	__u32 constraint;	/* enum oom_constraint: 0 none, 1 cpuset, 2 mempolicy, 3 memcg */
};

struct oom_node {
	__u32 node;
	__u32 nr_zones;		/* 0: unreadable */
	__u64 file_lru;		/* NR_ACTIVE_FILE + NR_INACTIVE_FILE */
	__u64 slab_reclaimable;
	__u64 misc_reclaimable;	/* NR_KERNEL_MISC_RECLAIMABLE, 0 where the kernel has none */
	struct mw_zone zones[MW_MAX_ZONES];
};

enum oom_retry_kind {
	OOM_RETRY_RECLAIM = 1,	/* oom:reclaim_retry_zone */
	OOM_RETRY_COMPACT = 2,	/* oom:compact_retry */
};

struct oom_retry {
	__u64 ts_ns;
	__u32 kind;
	__s32 order;
	/* reclaim_retry_zone */
	__s32 node;
	__s32 zone_idx;
	__s32 no_progress_loops;
	__u32 wmark_check;
	__u64 reclaimable;
	__u64 available;
	__u64 min_wmark;
	/* compact_retry */
	__s32 priority;
	__s32 result;
	__s32 retries;
	__s32 max_retries;
	__u32 should_retry;
	__u32 _pad;
};

/* The slow-path retries of one task, a ring of the latest OOM_LEADUP_LEN. */
struct oom_leadup {
	__u64 total;		/* retries seen since the task's previous kill */
	__u64 first_ts_ns;
	struct oom_retry r[OOM_LEADUP_LEN];	/* r[(total - 1) % LEN] is the latest */
};

struct oom_kill_event {
	struct mw_event_header hdr;
	__u32 kind;		/* OOM_KIND_KILL */
	__u32 hook;		/* enum oom_hook */
	__u32 flags;		/* OOM_F_* */
	/* the victim */
	__u32 victim_pid;	/* thread id, as mark_victim reports it */
	__u32 victim_tgid;
	__u32 uid;
	char victim_comm[MW_TASK_COMM_LEN];
	__s32 oom_score_adj;
	__u32 _pad0;
	__u64 victim_start_ns;	/* group leader's start_boottime */
	__u64 total_vm;
	__u64 rss_file;		/* rss_stat as get_mm_counter() reads it, as mark_victim prints it */
	__u64 rss_anon;
	__u64 swap_ents;
	__u64 rss_shmem;
	__u64 pgtables_bytes;
	/* the task that was allocating (current) */
	__u32 trigger_pid;
	__u32 trigger_tgid;
	char trigger_comm[MW_TASK_COMM_LEN];
	struct oom_memcg_chain trigger_memcg;
	struct oom_memcg_chain victim_memcg;
	struct oom_ctl ctl;	/* valid with OOM_F_CTL */
	struct oom_node node;	/* the node of the CPU that ran the killer */
	struct oom_leadup leadup;	/* the trigger's retries before this kill */
};

enum oom_reap_phase {
	OOM_REAP_WAKE = 1,	/* oom:wake_reaper: the victim is queued for the reaper */
	OOM_REAP_START = 2,	/* oom:start_task_reaping */
	OOM_REAP_FINISH = 3,	/* oom:finish_task_reaping: its anonymous memory unmapped */
	OOM_REAP_SKIP = 4,	/* oom:skip_task_reaping: the reaper gave up (mmap lock held) */
	OOM_REAP_EXIT_MMAP = 5,	/* mmap:exit_mmap of the victim's mm: all of it freed */
	OOM_REAP_EXIT = 6,	/* sched_process_exit of the victim thread */
};

struct oom_reap_event {
	struct mw_event_header hdr;
	__u32 kind;		/* OOM_KIND_REAP */
	__u32 phase;		/* enum oom_reap_phase */
	__u32 victim_pid;
	__u32 _pad;
	__u64 kill_ts_ns;	/* the mark_victim this victim was recorded at */
};

#endif
