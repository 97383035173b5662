/* growth: layouts of the maps src/probes/growth/ reads (src/probes/growth/layout.ts). */
#ifndef MEMWATCHER_GROWTH_H
#define MEMWATCHER_GROWTH_H

#define GROWTH_MAX_COMMS 16
/* Stack id of growth whose user stack could not be walked or stored. */
#define GROWTH_STACK_LOST 0xffffffffU

/* growth (key: tgid, stack id): cumulative bytes the stack made the process grow by. */
struct growth_key {
	__u32 tgid;
	__u32 stack_id;	/* in user_stacks (bpf/unwind.h); GROWTH_STACK_LOST */
};

struct growth_val {
	__u64 mapped;	/* brk up, anonymous private mmap, mremap up: exact bytes */
	__u64 faulted;	/* sampled write faults on absent pages, times the sample period, in bytes */
	__u64 events;	/* growth events seen (sampled faults counted once) */
	__u64 truncated;	/* of them, stacks cut short */
};

/* procs (key: tgid): per-process sums, also how user space learns a process is growing. */
struct growth_proc {
	__u64 grown;	/* every byte charged to a stack of this process */
	__u64 unmapped;	/* munmap and brk down: released, not attributable to the stack that grew */
	__u64 dropped;	/* bytes not charged: the growth map was full */
};

#endif
