/* sysstat event: one NUMA node's raw node_stat_item counters, in pages, as the kernel keeps
 * them in pglist_data.vm_stat. The twenty /proc/meminfo-style fields are derived in
 * src/probes/sysstat.ts. */
#ifndef MEMWATCHER_SYSSTAT_H
#define MEMWATCHER_SYSSTAT_H

#include "common.h"

enum sysstat_item {
	SYSSTAT_INACTIVE_ANON,
	SYSSTAT_ACTIVE_ANON,
	SYSSTAT_INACTIVE_FILE,
	SYSSTAT_ACTIVE_FILE,
	SYSSTAT_UNEVICTABLE,
	SYSSTAT_FILE_DIRTY,
	SYSSTAT_WRITEBACK,
	SYSSTAT_ANON_MAPPED,
	SYSSTAT_FILE_MAPPED,
	SYSSTAT_SHMEM,
	SYSSTAT_SLAB_RECLAIMABLE,
	SYSSTAT_SLAB_UNRECLAIMABLE,
	SYSSTAT_KERNEL_MISC_RECLAIMABLE,
	SYSSTAT_UNSTABLE_NFS,
	SYSSTAT_WRITEBACK_TEMP,
	SYSSTAT_ANON_THPS,
	SYSSTAT_SHMEM_THPS,
	SYSSTAT_NR_ITEMS,
};

struct sysstat_event {
	struct mw_event_header hdr;
	__u32 node;
	__u32 present_mask;	/* bit i set: item i exists on this kernel */
	__u64 pages[SYSSTAT_NR_ITEMS];
};

#endif
