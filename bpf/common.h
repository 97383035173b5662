/* Layout shared by every probe's events and read by src/probes: a record starts with its
 * type and size, so a reader built against another layout rejects it instead of misreading. */
#ifndef MEMWATCHER_COMMON_H
#define MEMWATCHER_COMMON_H

/* Puts a record struct into the object's BTF even when no map or function signature names it
 * (ring-buffer records are only cast to): mem-watcher checks its readers against that BTF at
 * start-up (src/runtime/layout-check.ts). An unused pointer in .bss, never written. */
#define MW_LAYOUT(s) struct s *mw_layout_##s __attribute__((unused))

#define MW_TASK_COMM_LEN 16
#define MW_MAX_NODES 32
#define MW_MAX_ZONES 6

enum mw_event_type {
	MW_EVENT_SYSSTAT = 1,
	MW_EVENT_PROCSTAT = 2,
	MW_EVENT_PROCSTAT_EXIT = 3,
	MW_EVENT_PAF = 4,
	MW_EVENT_PR = 5,
	MW_EVENT_MEMLEAK = 6,
	MW_EVENT_OOM = 7,
};

struct mw_event_header {
	__u16 type;
	__u16 size;	/* sizeof the whole record */
	__u32 _pad;
	__u64 ts_ns;	/* bpf_ktime_get_ns() */
};

#define MW_ZONE_NAME_LEN 8	/* "Movable" is the longest zone name */

/* One zone as /proc/zoneinfo shows it, except that watermarks are the raw _watermark[] values:
 * zoneinfo's min/low/high are these plus boost (kernel_mem.bpf.h reads it). */
struct mw_zone {
	char name[MW_ZONE_NAME_LEN];
	__u64 wmark_min;
	__u64 wmark_low;
	__u64 wmark_high;
	__u64 boost;
	__u64 free;	/* vm_stat[NR_FREE_PAGES] */
	__u64 managed;
	__u64 present;
	__u64 spanned;
};

#endif
