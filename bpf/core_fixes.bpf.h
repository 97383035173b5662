/* Kernel differences, one shim each, naming the change it bridges. Everything here compiles
 * against any vmlinux.h and is resolved by CO-RE on the running kernel. */
#ifndef MEMWATCHER_CORE_FIXES_BPF_H
#define MEMWATCHER_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/* node_stat_item members that exist only on some kernels. NR_UNSTABLE_NFS was removed in 5.9
 * (folded into writeback); NR_WRITEBACK_TEMP was removed with FUSE's temp pages (6.16).
 * The local enum exists so CO-RE can look the names up in the running kernel's BTF. */
enum node_stat_item___compat {
	NR_UNSTABLE_NFS___compat = 0,
	NR_WRITEBACK_TEMP___compat = 0,
	NR_KERNEL_MISC_RECLAIMABLE___compat = 0,
	NR_ANON_THPS___compat = 0,
	NR_SHMEM_THPS___compat = 0,
};

/* Before 5.9 the slab counters were page-based and named without the _B suffix. */
enum node_stat_item___pre59 {
	NR_SLAB_RECLAIMABLE___pre59 = 0,
	NR_SLAB_UNRECLAIMABLE___pre59 = 0,
};

/* Index of a node_stat_item on the running kernel, or -1 when that kernel has no such item. */
#define MW_NODE_ITEM(flavor_enum, name) \
	(bpf_core_enum_value_exists(enum flavor_enum, name) ? \
	 (int)bpf_core_enum_value(enum flavor_enum, name) : -1)

/* mm->rss_stat: an atomic_long_t count[NR_MM_COUNTERS] inside struct mm_rss_stat up to 6.1;
 * since 6.2 a struct percpu_counter rss_stat[NR_MM_COUNTERS] directly in mm_struct. */
struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
};
struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
};
struct mm_struct___v62 {
	struct percpu_counter rss_stat[4];
};

/* struct zone before 5.0: watermark[] (renamed _watermark when watermark_boost came) and
 * managed_pages a plain unsigned long (an atomic_long_t since 5.0). */
struct zone___pre50 {
	unsigned long watermark[3];
	unsigned long managed_pages;
};

/* kmem:mm_page_alloc's gfp_flags field is a 4-byte gfp_t in 5.10's tracepoint and an unsigned
 * long in 6.1's: read it with bpf_core_field_size. Direct ctx access needs the attribute. */
struct trace_event_raw_mm_page_alloc___compat {
	unsigned long pfn;
	unsigned int order;
	unsigned long gfp_flags;
	int migratetype;
} __attribute__((preserve_access_index));

#endif
