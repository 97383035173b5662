/* User-stack unwinding from DWARF CFI, in the kernel. Included by a probe's .bpf.c.
 *
 * bpf_get_stackid(BPF_F_USER_STACK) follows frame pointers, which distribution binaries do
 * not keep (GCC and clang at -O2 use rbp as a general register): stacks come out one frame
 * deep or made of data. Here each frame is unwound by its object's CFI instead, reduced by
 * user space (src/unwind/) to a sorted table of rows (bpf/unwind.h):
 *   unwind_ranges  (tgid, address) -> (object id, load bias), an LPM trie of each process's
 *                  executable mappings;
 *   unwind_objects object id -> its rows' place in unwind_rows, shared by every process that
 *                  maps the object;
 *   unwind_rows    all tables, one array.
 * A frame: find the mapping, binary-search the row for pc - 1 (every pc but a signal frame's
 * is a return address, which may be just past the function's last instruction), compute the
 * CFA, read the return address at CFA - 8 and the caller's rbp where the row says. An object
 * without CFI is walked by frame pointers. Address space we know nothing about (JIT code,
 * anonymous memory, a library mapped since the ranges were last filled) ends the walk,
 * truncated: a frame is never guessed.
 *
 * Loops are bounded for the verifier of 5.10 (no bpf_loop): UNWIND_MAX_FRAMES frames of at
 * most UNWIND_SEARCH_STEPS search steps, in a global function verified once per program. */
#ifndef MEMWATCHER_UNWIND_BPF_H
#define MEMWATCHER_UNWIND_BPF_H

#include "unwind.h"

#ifndef EEXIST
#define EEXIST 17
#endif
#define UNWIND_ENOENT 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UNWIND_MAX_ROWS);	/* 1 when user space never fills it */
	__type(key, __u32);
	__type(value, struct unwind_row);
} unwind_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct unwind_object);
} unwind_objects SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct unwind_range_key);
	__type(value, struct unwind_range);
} unwind_ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);	/* probes.memleak.stack_map_size */
	__type(key, __u32);
	__type(value, struct unwind_stack);
} user_stacks SEC(".maps");

/* The walk in progress (unwind_walk: vmlinux.h has a kernel unwind_state): the stack being built (1 KiB, too much for the 512-byte BPF stack) and
 * the registers of the frame being unwound. */
struct unwind_walk {
	struct unwind_stack stack;	/* first: stored into user_stacks as is */
	__u64 pc, sp, bp;
	__u32 bp_valid;
	__u32 tgid;
	__u32 id;	/* the stored stack's id, once unwind_store succeeded */
	__u32 _pad;
};

/*
 * Each thread's walk in progress, keyed by thread id: not per CPU. A uprobe program (and on
 * newer kernels a syscall tracepoint's) runs with migration disabled but preemptible, and a
 * preemptible kernel (Debian's 7.x: CONFIG_PREEMPT_LAZY, no voluntary model left) switches
 * to another thread mid-walk; that thread's program on the same CPU rewrote a per-CPU walk, and
 * the first one stored its allocation under the other's stack (one of eight identical mallocs
 * counted at another site).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UNWIND_MAX_WALKS);
	__type(key, __u32);
	__type(value, struct unwind_walk);
} unwind_walks SEC(".maps");

/* Where a new walk's entry is copied from: its content does not matter (a walk sets every
 * field it reads before reading it), and a 1 KiB zero value would not fit the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_walk);
} unwind_blank SEC(".maps");

/* This thread's walk in progress (unwind_user_stack makes it and deletes it). */
static __always_inline struct unwind_walk *unwind_this_walk(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&unwind_walks, &tid);
}

/*
 * Index in unwind_rows of the row in force at `rel` among rows [first, first + count), or -1.
 * Global functions (this one, unwind_frame, unwind_user_stack) are verified once per program,
 * not once per iteration of the loops around them.
 */
__noinline int unwind_find_row(__u32 first, __u32 count, __u32 rel)
{
	__u32 lo = first, hi = first + count, mid;
	struct unwind_row *row;
	int i;

	if (count > UNWIND_MAX_ROWS || hi < first)
		return -1;
	/* The last row whose start <= rel: lo ends one past it. */
	for (i = 0; i < UNWIND_SEARCH_STEPS && lo < hi; i++) {
		mid = lo + (hi - lo) / 2;
		row = bpf_map_lookup_elem(&unwind_rows, &mid);
		if (!row)
			return -1;
		if (row->start <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < hi || lo == first)
		return -1;	/* search not finished (a corrupt count), or before the first row */
	return lo - 1;
}

enum unwind_step {
	UNWIND_STEP_NEXT = 0,
	UNWIND_STEP_END = 1,		/* outermost frame reached */
	UNWIND_STEP_TRUNCATED = 2,	/* cannot go on */
};

/* One frame of this thread's walk: from the callee's registers to the caller's. */
__noinline int unwind_frame(void)
{
	struct unwind_range_key key = { .prefixlen = 96 };
	struct unwind_walk *w;
	struct unwind_range *range;
	struct unwind_object *obj;
	struct unwind_row *row;
	__u64 cfa, ra = 0, bp = 0, rel;
	__u32 idx;
	int found;

	w = unwind_this_walk();
	if (!w)
		return UNWIND_STEP_TRUNCATED;
	key.tgid = __builtin_bswap32(w->tgid);
	key.addr = __builtin_bswap64(w->pc - 1);
	range = bpf_map_lookup_elem(&unwind_ranges, &key);
	if (!range)
		return UNWIND_STEP_TRUNCATED;
	obj = bpf_map_lookup_elem(&unwind_objects, &range->object_id);
	if (!obj)
		return UNWIND_STEP_TRUNCATED;
	if (obj->count == 0) {
		/* No CFI: the frame-pointer chain, [bp] = caller's bp, [bp + 8] = return address.
		 * A zero rbp ends the chain: _start clears it (the x86-64 ABI's outermost frame). */
		if (w->bp_valid && w->bp == 0)
			return UNWIND_STEP_END;
		if (!w->bp_valid || w->bp <= w->sp)
			return UNWIND_STEP_TRUNCATED;
		cfa = w->bp + 16;
		if (bpf_probe_read_user(&bp, sizeof(bp), (void *)w->bp))
			return UNWIND_STEP_TRUNCATED;
	} else {
		rel = w->pc - 1 - range->bias;
		if (rel > 0xffffffffULL)
			return UNWIND_STEP_TRUNCATED;
		found = unwind_find_row(obj->first, obj->count, (__u32)rel);
		if (found < 0)
			return UNWIND_STEP_TRUNCATED;
		idx = (__u32)found;
		row = bpf_map_lookup_elem(&unwind_rows, &idx);
		if (!row)
			return UNWIND_STEP_TRUNCATED;
		switch (row->cfa_rule) {
		case UNWIND_CFA_RSP:
			cfa = w->sp + row->cfa_off;
			break;
		case UNWIND_CFA_RBP:
			if (!w->bp_valid)
				return UNWIND_STEP_TRUNCATED;
			cfa = w->bp + row->cfa_off;
			break;
		case UNWIND_CFA_PLT:
			cfa = w->sp + row->cfa_off + ((w->pc & 15) >= row->plt_min ? 8 : 0);
			break;
		case UNWIND_CFA_END:
			return UNWIND_STEP_END;
		default:
			return UNWIND_STEP_TRUNCATED;
		}
		if (row->rbp_rule == UNWIND_RBP_OFFSET) {
			if (bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + row->rbp_off)))
				return UNWIND_STEP_TRUNCATED;
		} else if (row->rbp_rule == UNWIND_RBP_SAME) {
			bp = w->bp;
		} else {
			w->bp_valid = 0;
		}
	}
	/* The caller's frame lies above the callee's: anything else is a corrupt stack. */
	if (cfa <= w->sp)
		return UNWIND_STEP_TRUNCATED;
	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)))
		return UNWIND_STEP_TRUNCATED;
	w->sp = cfa;
	w->bp = bp;
	w->pc = ra;
	return ra == 0 ? UNWIND_STEP_END : UNWIND_STEP_NEXT;
}

/* Stores this thread's walked stack into user_stacks under a hash of its frames (see below); 0
 * or a negative errno. Statuses are ints, compared as ints: a global function's 64-bit
 * return came back zero-extended on 5.10 (-EEXIST seen as 0xffffffef). */
__noinline int unwind_store(void)
{
	struct unwind_walk *w;
	struct unwind_stack *old;
	__u64 hash = 0xcbf29ce484222325ULL;
	__u32 id, i;
	int err;

	w = unwind_this_walk();
	if (!w)
		return -UNWIND_ENOENT;
	for (i = 0; i < UNWIND_MAX_FRAMES; i++) {
		/* depth read afresh each time (volatile: not hoisted): bounds learnt from one
		 * comparison would make each iteration a new verifier state, 127 * 127 / 2 in all */
		if (i >= *(volatile __u32 *)&w->stack.depth)
			w->stack.pcs[i] = 0;	/* a stack's value is the same whoever walked it */
		else
			hash = (hash ^ w->stack.pcs[i]) * 0x100000001b3ULL;
	}
	hash = (hash ^ w->stack.flags) * 0x100000001b3ULL;
	id = (__u32)(hash ^ (hash >> 32));
	if (id == 0xffffffff)	/* -1 is "no stack" to the probes */
		id = 0;

	w->id = id;
	err = (int)bpf_map_update_elem(&user_stacks, &id, &w->stack, BPF_NOEXIST);
	if (err == 0)
		goto out;
	if (err != -EEXIST)
		return err;	/* -E2BIG: the map is full */
	old = bpf_map_lookup_elem(&user_stacks, &id);
	if (!old)
		return -UNWIND_ENOENT;
	if (old->depth != w->stack.depth || old->flags != w->stack.flags)
		return -EEXIST;
	for (i = 0; i < UNWIND_MAX_FRAMES; i++) {
		if (old->pcs[i] != w->stack.pcs[i])
			return -EEXIST;
	}
out:
	return 0;
}

/* The walk itself, into this thread's unwind_walk; 0 or a negative errno (see unwind_user_stack). */
__noinline int unwind_walk_user(__u32 tgid, __u64 pc, __u64 sp, __u64 bp)
{
	struct unwind_walk *w;
	__u32 i;
	int step;

	w = unwind_this_walk();
	if (!w)
		return -UNWIND_ENOENT;
	w->tgid = tgid;
	w->pc = pc;
	w->sp = sp;
	w->bp = bp;
	w->bp_valid = 1;
	/* Depth and flags live in the map value, not in registers: every way out of the frame
	 * loop then reaches the code after it in one verifier state, not one per frame. */
	w->stack.depth = 0;
	w->stack.flags = UNWIND_STACK_TRUNCATED;	/* until the outermost frame is reached */
	for (i = 0; i < UNWIND_MAX_FRAMES; i++) {
		if (w->pc == 0) {
			w->stack.flags = 0;
			break;
		}
		w->stack.pcs[i] = w->pc;
		w->stack.depth = i + 1;
		step = unwind_frame();
		if (step == UNWIND_STEP_END) {
			w->stack.flags = 0;
			break;
		}
		if (step != UNWIND_STEP_NEXT)
			break;
	}
	return unwind_store();
}

/*
 * Walks the user stack of process `tgid` from the registers pc, sp, bp (at a uretprobe: the
 * caller's, just after the call returned) into user_stacks. Returns the stack id (a hash of
 * the frames) with UNWIND_TRUNCATED set when the walk stopped short, or -EEXIST when another
 * stack holds that id (a collision: never merged), or another negative errno.
 */
static __always_inline long unwind_user_stack(__u32 tgid, __u64 pc, __u64 sp, __u64 bp)
{
	struct unwind_walk *w, *blank;
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid();
	long ret = -UNWIND_ENOENT;
	int err;

	blank = bpf_map_lookup_elem(&unwind_blank, &zero);
	if (!blank)
		return -UNWIND_ENOENT;
	err = (int)bpf_map_update_elem(&unwind_walks, &tid, blank, BPF_ANY);
	if (err)
		return err;	/* -E2BIG: more walks in progress than UNWIND_MAX_WALKS */
	err = unwind_walk_user(tgid, pc, sp, bp);
	w = bpf_map_lookup_elem(&unwind_walks, &tid);
	if (err < 0)
		ret = err;
	else if (w)
		ret = (long)w->id | (w->stack.flags ? (long)UNWIND_TRUNCATED : 0);
	bpf_map_delete_elem(&unwind_walks, &tid);
	return ret;
}

#endif
