/* memleak: the layouts user space reads from the memleak object's maps and ring buffer
 * (src/probes/memleak/layout.ts mirrors them and checks the sizes). */
#ifndef MEMWATCHER_MEMLEAK_H
#define MEMWATCHER_MEMLEAK_H

#include "common.h"

#define MEMLEAK_STACK_DEPTH 127	/* PERF_MAX_STACK_DEPTH: frames kept per stack */
#define MEMLEAK_STACK_LOST -1	/* stack id of allocations whose stack could not be kept */

/* Which allocator call an allocation or free came from (trace records, in-flight calls). */
enum memleak_kind {
	MEMLEAK_MALLOC = 0,
	MEMLEAK_CALLOC = 1,
	MEMLEAK_REALLOC = 2,
	MEMLEAK_REALLOCARRAY = 3,
	MEMLEAK_POSIX_MEMALIGN = 4,
	MEMLEAK_ALIGNED_ALLOC = 5,
	MEMLEAK_MEMALIGN = 6,
	MEMLEAK_VALLOC = 7,
	MEMLEAK_PVALLOC = 8,
	MEMLEAK_MMAP = 9,
	MEMLEAK_MREMAP = 10,
	MEMLEAK_FREE = 11,
	MEMLEAK_MUNMAP = 12,
	MEMLEAK_KMALLOC = 13,
	MEMLEAK_KMEM_CACHE = 14,
	MEMLEAK_PAGE = 15,
	MEMLEAK_NEW = 16,	/* C++ operator new and new[], every variant (tc_new...) */
	MEMLEAK_DELETE = 17,	/* C++ operator delete and delete[], every variant */
	MEMLEAK_MALLOCX = 18,	/* jemalloc's non-standard API */
	MEMLEAK_RALLOCX = 19,
	MEMLEAK_XALLOCX = 20,
	MEMLEAK_DALLOCX = 21,	/* dallocx and sdallocx */
};

/* Value of the `targets` map (key: tgid). */
enum memleak_target_state {
	MEMLEAK_TARGET_TRACE = 1,	/* allocations of this process are recorded */
	MEMLEAK_TARGET_ARM_EXEC = 2,	/* becomes TRACE when the process execs (--memleak-command) */
	MEMLEAK_TARGET_EXECED = 3,	/* was TRACE, then exec'd: recording stopped */
};

/* allocs: one outstanding allocation. tgid is 0 for kernel allocations. */
struct memleak_alloc_key {
	__u32 tgid;
	__u32 _pad;
	__u64 addr;	/* pfn for pages */
};

struct memleak_alloc_info {
	__u64 size;
	__u64 ts_ns;	/* bpf_ktime_get_ns() at allocation; 0 with combined_only */
	__s32 stack_id;
	__u32 _pad;
};

/* stack_totals: outstanding bytes and allocations per (process, stack), kept with atomics. */
struct memleak_stack_key {
	__u32 tgid;
	__s32 stack_id;
};

struct memleak_stack_totals {
	__u64 bytes;
	__u64 allocs;
};

enum memleak_op {
	MEMLEAK_OP_ALLOC = 1,
	MEMLEAK_OP_FREE = 2,
};

/* Ring buffer record of trace mode (-t): one per allocation and per free of a known address. */
struct memleak_event {
	struct mw_event_header hdr;
	__u32 tgid;
	__u32 tid;
	__u64 addr;
	__u64 size;
	__s32 stack_id;
	__u16 kind;	/* enum memleak_kind */
	__u16 op;	/* enum memleak_op */
};

#endif
