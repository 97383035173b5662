/* unwind: the layouts of the user-stack unwinder's maps (bpf/unwind.bpf.h walks them;
 * src/unwind/ fills them and checks these sizes against the object's BTF). */
#ifndef MEMWATCHER_UNWIND_H
#define MEMWATCHER_UNWIND_H

#define UNWIND_MAX_FRAMES 127	/* PERF_MAX_STACK_DEPTH, as bpf_get_stackid keeps */
/* Rows of every object's table together: 4 Mi rows of 16 bytes, 64 MiB of array map. A binary
 * search over at most this many rows takes UNWIND_SEARCH_STEPS steps. */
#define UNWIND_MAX_ROWS (4 << 20)
#define UNWIND_SEARCH_STEPS 23
/* Threads walking at the same time (one entry of about 1 KiB each, for the walk's length):
 * the threads running a program plus those preempted in one. Past it a stack is lost, counted. */
#define UNWIND_MAX_WALKS 1024
/* Set in the walker's return value when the stack stopped short of its outermost frame. */
#define UNWIND_TRUNCATED (1ULL << 32)

/* enum unwind_cfa_rule (src/unwind/table.ts CFA_RULE) */
enum unwind_cfa_rule {
	UNWIND_CFA_NONE = 0,		/* no CFI covers the address */
	UNWIND_CFA_RSP = 1,		/* CFA = rsp + cfa_off */
	UNWIND_CFA_RBP = 2,		/* CFA = rbp + cfa_off */
	UNWIND_CFA_PLT = 3,		/* rsp + cfa_off, + 8 when (pc & 15) >= plt_min */
	UNWIND_CFA_END = 4,		/* return address undefined: the outermost frame */
	UNWIND_CFA_UNSUPPORTED = 5,	/* CFI the walker does not evaluate */
};

enum unwind_rbp_rule {
	UNWIND_RBP_SAME = 0,
	UNWIND_RBP_OFFSET = 1,		/* saved at CFA + rbp_off */
	UNWIND_RBP_LOST = 2,
};

/* unwind_rows: one row of an object's table; the row holds from `start` to the next row's. */
struct unwind_row {
	__u32 start;	/* object-relative virtual address */
	__s32 cfa_off;
	__s16 rbp_off;
	__u8 cfa_rule;	/* enum unwind_cfa_rule */
	__u8 rbp_rule;	/* enum unwind_rbp_rule */
	__u8 plt_min;
	__u8 _pad[3];
};

/* unwind_objects (key: object id, u64): where an object's rows are in unwind_rows. count 0:
 * the object has no CFI, its frames are walked by frame pointers. */
struct unwind_object {
	__u32 first;
	__u32 count;
};

/* unwind_ranges (LPM trie): executable address ranges of a process, as prefixes. Both data
 * fields are big-endian, as the trie compares bytes from the first. */
struct unwind_range_key {
	__u32 prefixlen;	/* 32 (tgid) + address bits */
	__u32 tgid;		/* big-endian */
	__u64 addr;		/* big-endian */
};

struct unwind_range {
	__u64 object_id;
	__u64 bias;	/* runtime address - object-relative address */
};

enum unwind_stack_flags {
	UNWIND_STACK_TRUNCATED = 1,	/* stopped short of the outermost frame */
};

/* user_stacks (key: u32 stack id, a hash of the frames): one walked stack. pcs[0] is the
 * probed function's return address; zero past `depth`. */
struct unwind_stack {
	__u64 pcs[UNWIND_MAX_FRAMES];
	__u32 depth;
	__u32 flags;	/* enum unwind_stack_flags */
};

#endif
