// SPDX-License-Identifier: GPL-2.0
/* memleak: outstanding allocations per stack.
 *
 * User space: uprobes on the allocator's entry save the requested size per thread, uretprobes
 * record the returned address with the user stack taken there (at entry the frame-pointer walk
 * would miss the direct caller). Kernel: the kmem tracepoints.
 *
 * Two maps hold the state: `allocs` (address -> size, time, stack) lets a free find what it
 * frees and serves the age filter; `stack_totals` ((process, stack) -> bytes, count) is kept
 * with atomic adds and subtracts on every allocation and free, so a report reads only it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "memleak.h"
#include "preempt.bpf.h"
#include "unwind.bpf.h"

MW_LAYOUT(memleak_event);

#define MAP_FAILED ((__u64)-1)
#define SIGSTOP 19

const volatile __u64 min_size = 0;
const volatile __u64 max_size = 0;	/* 0: no limit */
const volatile __u32 sample_rate = 1;
const volatile bool combined_only = false;
const volatile bool trace_all = false;
const volatile __u64 page_size = 4096;
const volatile bool kernel_filter_tgid = false;	/* kernel mode: only in the `targets` processes */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* tgid */
	__type(value, __u32);	/* enum memleak_target_state */
} targets SEC(".maps");

/* Processes whose user stacks cannot be walked yet: a command just exec'd maps its libraries
 * (the dynamic loader does) after the exec and before its first allocation, and user space
 * has not seen them. Its first allocator call stops it (SIGSTOP, delivered before the
 * allocator runs) until user space has loaded their unwind tables, deleted the entry and sent
 * SIGCONT: otherwise its first allocations' stacks would end at the first library frame. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* tgid */
	__type(value, __u32);
} unwind_hold SEC(".maps");

/* The allocator call in flight on each thread. Keyed by thread with the kind inside and
 * inserted with BPF_NOEXIST: a call made from inside another allocator call (glibc's malloc
 * calling mmap, musl's calloc calling malloc) neither overwrites the outer call's size nor
 * records its block a second time; the outer call accounts for it. */
struct inflight {
	__u64 size;
	__u64 aux;	/* realloc/mremap: old address; posix_memalign: memptr */
	__u32 kind;
	__u32 skip;	/* filtered by size or sampled out: the outer call is still tracked */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);	/* tid */
	__type(value, struct inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1000000);	/* probes.memleak.max_allocations */
	__type(key, struct memleak_alloc_key);
	__type(value, struct memleak_alloc_info);
} allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);	/* stack_map_size per target, set by user space */
	__type(key, struct memleak_stack_key);
	__type(value, struct memleak_stack_totals);
} stack_totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);	/* probes.memleak.stack_map_size */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MEMLEAK_STACK_DEPTH * sizeof(__u64));
} stack_traces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

__u64 events_dropped;
__u64 stack_collisions;	/* -EEXIST: another stack holds the bucket; counted under STACK_LOST */
__u64 stack_failures;	/* any other bpf_get_stackid failure */
__u64 stack_truncated;	/* user stacks cut short: unknown code, CFI not evaluated, too deep */
__u64 allocs_dropped;	/* `allocs` full: the allocation is not tracked at all */
__u64 addr_reused;	/* an address came back without its free being seen */

static __always_inline bool traced(__u32 tgid)
{
	__u32 *state = bpf_map_lookup_elem(&targets, &tgid);

	return state && *state == MEMLEAK_TARGET_TRACE;
}

static __always_inline void trace_event(__u32 tgid, __u64 addr, __u64 size, __s32 stack_id,
					__u16 kind, __u16 op)
{
	struct memleak_event *e;

	if (!trace_all)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&events_dropped, 1);
		return;
	}
	e->hdr.type = MW_EVENT_MEMLEAK;
	e->hdr.size = sizeof(*e);
	e->hdr._pad = 0;
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->tgid = tgid;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->addr = addr;
	e->size = size;
	e->stack_id = stack_id;
	e->kind = kind;
	e->op = op;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void add_to_stack(__u32 tgid, __s32 stack_id, __s64 bytes, __s64 count)
{
	struct memleak_stack_key key = { .tgid = tgid, .stack_id = stack_id };
	struct memleak_stack_totals *t, zero = {};

	t = bpf_map_lookup_elem(&stack_totals, &key);
	if (!t) {
		bpf_map_update_elem(&stack_totals, &key, &zero, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&stack_totals, &key);
		if (!t)
			return;
	}
	__sync_fetch_and_add(&t->bytes, bytes);
	__sync_fetch_and_add(&t->allocs, count);
}

static __always_inline void forget(__u32 tgid, __u64 addr, __u16 kind)
{
	struct memleak_alloc_key key = { .tgid = tgid, .addr = addr };
	struct memleak_alloc_info *info, copy;

	info = bpf_map_lookup_elem(&allocs, &key);
	if (!info)
		return;
	copy = *info;
	/* Whoever deletes the entry subtracts it: a racing double free subtracts once. */
	if (bpf_map_delete_elem(&allocs, &key))
		return;
	add_to_stack(tgid, copy.stack_id, -(__s64)copy.size, -1);
	trace_event(tgid, addr, copy.size, copy.stack_id, kind, MEMLEAK_OP_FREE);
}

static __always_inline void record(void *ctx, __u32 tgid, __u64 addr, __u64 size, __u16 kind,
				   __u64 stack_flags)
{
	struct memleak_alloc_key key = { .tgid = tgid, .addr = addr };
	struct memleak_alloc_info info = {}, *old;
	long id;

	if (stack_flags & BPF_F_USER_STACK) {
		/* CFI-unwound (bpf/unwind.bpf.h) into user_stacks; kernel stacks stay in stack_traces. */
		struct pt_regs *regs = ctx;

		id = unwind_user_stack(tgid, PT_REGS_IP(regs), PT_REGS_SP(regs), PT_REGS_FP(regs));
		if (id >= 0 && (id & UNWIND_TRUNCATED)) {
			__sync_fetch_and_add(&stack_truncated, 1);
			id = (__u32)id;
		}
	} else {
		id = bpf_get_stackid(ctx, &stack_traces, stack_flags);
	}
	if (id < 0) {
		if (id == -EEXIST)
			__sync_fetch_and_add(&stack_collisions, 1);
		else
			__sync_fetch_and_add(&stack_failures, 1);
		id = MEMLEAK_STACK_LOST;
	}
	info.size = size;
	info.ts_ns = combined_only ? 0 : bpf_ktime_get_ns();
	info.stack_id = id;

	if (bpf_map_update_elem(&allocs, &key, &info, BPF_NOEXIST)) {
		old = bpf_map_lookup_elem(&allocs, &key);
		if (!old) {
			__sync_fetch_and_add(&allocs_dropped, 1);
			return;
		}
		/* The block was freed by a path we do not see; its old record is gone now. */
		__sync_fetch_and_add(&addr_reused, 1);
		add_to_stack(tgid, old->stack_id, -(__s64)old->size, -1);
		if (bpf_map_update_elem(&allocs, &key, &info, BPF_ANY)) {
			__sync_fetch_and_add(&allocs_dropped, 1);
			return;
		}
	}
	add_to_stack(tgid, (__s32)id, (__s64)size, 1);
	trace_event(tgid, addr, size, (__s32)id, kind, MEMLEAK_OP_ALLOC);
}

/* ---- user space allocators ------------------------------------------------------------- */

static __always_inline bool keep(__u64 size)
{
	if (size < min_size || (max_size && size > max_size))
		return false;
	if (sample_rate > 1 && bpf_get_prandom_u32() % sample_rate != 0)
		return false;
	return true;
}

static __always_inline int enter(__u32 kind, __u64 size, __u64 aux)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct inflight call = { .size = size, .aux = aux, .kind = kind };

	if (!traced(tgid))
		return 0;
	if (bpf_map_lookup_elem(&unwind_hold, &tgid))
		bpf_send_signal(SIGSTOP);
	call.skip = !keep(size);
	/* Fails with -EEXIST for a nested call: deliberately ignored (see `inflight`). */
	bpf_map_update_elem(&inflight, &tid, &call, BPF_NOEXIST);
	return 0;
}

/* Takes this thread's in-flight call of `kind`; false for a nested or untraced call. */
static __always_inline bool take(__u32 kind, struct inflight *out)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight *call = bpf_map_lookup_elem(&inflight, &tid);

	if (!call || call->kind != kind)
		return false;
	*out = *call;
	bpf_map_delete_elem(&inflight, &tid);
	return true;
}

static __always_inline int exit_alloc(void *ctx, __u32 kind, __u64 addr)
{
	struct inflight call;

	if (!take(kind, &call) || call.skip || !addr)
		return 0;
	record(ctx, bpf_get_current_pid_tgid() >> 32, addr, call.size, kind, BPF_F_USER_STACK);
	return 0;
}

/* realloc/reallocarray/mremap: the old block is gone once the call succeeded (realloc(p, 0)
 * also frees p and may return NULL); on failure it stays allocated. */
static __always_inline int exit_realloc(void *ctx, __u32 kind, __u64 addr, bool failed)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct inflight call;

	if (!take(kind, &call))
		return 0;
	if (call.aux && (!failed || (call.size == 0 && kind != MEMLEAK_MREMAP)))
		forget(tgid, call.aux, kind);
	if (failed || call.skip)
		return 0;
	record(ctx, tgid, addr, call.size, kind, BPF_F_USER_STACK);
	return 0;
}

SEC("uprobe")
int MW_KPROBE(malloc_enter, size_t size)
{
	return enter(MEMLEAK_MALLOC, size, 0);
}

SEC("uretprobe")
int MW_KRETPROBE(malloc_exit, void *ret)
{
	return exit_alloc(ctx, MEMLEAK_MALLOC, (__u64)ret);
}

SEC("uprobe")
int MW_KPROBE(calloc_enter, size_t nmemb, size_t size)
{
	return enter(MEMLEAK_CALLOC, (__u64)nmemb * size, 0);
}

SEC("uretprobe")
int MW_KRETPROBE(calloc_exit, void *ret)
{
	return exit_alloc(ctx, MEMLEAK_CALLOC, (__u64)ret);
}

SEC("uprobe")
int MW_KPROBE(realloc_enter, void *ptr, size_t size)
{
	return enter(MEMLEAK_REALLOC, size, (__u64)ptr);
}

SEC("uretprobe")
int MW_KRETPROBE(realloc_exit, void *ret)
{
	return exit_realloc(ctx, MEMLEAK_REALLOC, (__u64)ret, ret == NULL);
}

SEC("uprobe")
int MW_KPROBE(reallocarray_enter, void *ptr, size_t nmemb, size_t size)
{
	return enter(MEMLEAK_REALLOCARRAY, (__u64)nmemb * size, (__u64)ptr);
}

SEC("uretprobe")
int MW_KRETPROBE(reallocarray_exit, void *ret)
{
	return exit_realloc(ctx, MEMLEAK_REALLOCARRAY, (__u64)ret, ret == NULL);
}

SEC("uprobe")
int MW_KPROBE(posix_memalign_enter, void **memptr, size_t alignment, size_t size)
{
	return enter(MEMLEAK_POSIX_MEMALIGN, size, (__u64)memptr);
}

SEC("uretprobe")
int MW_KRETPROBE(posix_memalign_exit, int ret)
{
	struct inflight call;
	__u64 addr = 0;

	if (!take(MEMLEAK_POSIX_MEMALIGN, &call) || call.skip || ret != 0)
		return 0;
	if (bpf_probe_read_user(&addr, sizeof(addr), (void *)call.aux) || !addr)
		return 0;
	record(ctx, bpf_get_current_pid_tgid() >> 32, addr, call.size, MEMLEAK_POSIX_MEMALIGN,
	       BPF_F_USER_STACK);
	return 0;
}

SEC("uprobe")
int MW_KPROBE(aligned_alloc_enter, size_t alignment, size_t size)
{
	return enter(MEMLEAK_ALIGNED_ALLOC, size, 0);
}

SEC("uretprobe")
int MW_KRETPROBE(aligned_alloc_exit, void *ret)
{
	return exit_alloc(ctx, MEMLEAK_ALIGNED_ALLOC, (__u64)ret);
}

SEC("uprobe")
int MW_KPROBE(memalign_enter, size_t alignment, size_t size)
{
	return enter(MEMLEAK_MEMALIGN, size, 0);
}

SEC("uretprobe")
int MW_KRETPROBE(memalign_exit, void *ret)
{
	return exit_alloc(ctx, MEMLEAK_MEMALIGN, (__u64)ret);
}

SEC("uprobe")
int MW_KPROBE(valloc_enter, size_t size)
{
	return enter(MEMLEAK_VALLOC, size, 0);
}

SEC("uretprobe")
int MW_KRETPROBE(valloc_exit, void *ret)
{
	return exit_alloc(ctx, MEMLEAK_VALLOC, (__u64)ret);
}

SEC("uprobe")
int MW_KPROBE(pvalloc_enter, size_t size)
{
	/* pvalloc rounds up to whole pages (and 0 to one page) */
	__u64 n = size ? (size + page_size - 1) / page_size * page_size : page_size;

	return enter(MEMLEAK_PVALLOC, n, 0);
}

SEC("uretprobe")
int MW_KRETPROBE(pvalloc_exit, void *ret)
{
	return exit_alloc(ctx, MEMLEAK_PVALLOC, (__u64)ret);
}

SEC("uprobe")
int MW_KPROBE(mmap_enter, void *addr, size_t length)
{
	return enter(MEMLEAK_MMAP, length, 0);
}

SEC("uretprobe")
int MW_KRETPROBE(mmap_exit, void *ret)
{
	if ((__u64)ret == MAP_FAILED)
		ret = NULL;
	return exit_alloc(ctx, MEMLEAK_MMAP, (__u64)ret);
}

SEC("uprobe")
int MW_KPROBE(mremap_enter, void *old_address, size_t old_size, size_t new_size)
{
	return enter(MEMLEAK_MREMAP, new_size, (__u64)old_address);
}

SEC("uretprobe")
int MW_KRETPROBE(mremap_exit, void *ret)
{
	return exit_realloc(ctx, MEMLEAK_MREMAP, (__u64)ret, (__u64)ret == MAP_FAILED);
}

SEC("uprobe")
int MW_KPROBE(munmap_enter, void *addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (traced(tgid))
		forget(tgid, (__u64)addr, MEMLEAK_MUNMAP);
	return 0;
}

SEC("uprobe")
int MW_KPROBE(free_enter, void *addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (addr && traced(tgid))
		forget(tgid, (__u64)addr, MEMLEAK_FREE);
	return 0;
}

/* C++ operators: every operator new takes the size first, every operator delete the pointer
 * first (sized, aligned and nothrow forms only add arguments). libstdc++'s call malloc and
 * free, which are then nested calls (see `inflight`); jemalloc's and tcmalloc's do not.
 * libstdc++'s also call each other (new[] calls new, the nothrow forms the throwing ones):
 * nested calls of one kind, told apart by their return address, saved at entry in `aux`, so
 * that the outermost call, whose caller is the program, is the one recorded. */
static __always_inline __u64 entry_return_address(struct pt_regs *ctx)
{
#if defined(__TARGET_ARCH_x86)
	__u64 ra = 0;

	bpf_probe_read_user(&ra, sizeof(ra), (void *)PT_REGS_SP(ctx));
	return ra;
#else
	return PT_REGS_RET(ctx);	/* the link register */
#endif
}

SEC("uprobe")
int MW_KPROBE(new_enter, size_t size)
{
	return enter(MEMLEAK_NEW, size, entry_return_address(ctx));
}

SEC("uretprobe")
int MW_KRETPROBE(new_exit, void *ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight *call = bpf_map_lookup_elem(&inflight, &tid), copy;

	/* aux 0: the return address was unreadable; this exit takes the call, as take() would. */
	if (!call || call->kind != MEMLEAK_NEW || (call->aux && call->aux != PT_REGS_IP(ctx)))
		return 0;
	copy = *call;
	bpf_map_delete_elem(&inflight, &tid);
	if (copy.skip || !ret)
		return 0;
	record(ctx, bpf_get_current_pid_tgid() >> 32, (__u64)ret, copy.size, MEMLEAK_NEW, BPF_F_USER_STACK);
	return 0;
}

SEC("uprobe")
int MW_KPROBE(delete_enter, void *addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (addr && traced(tgid))
		forget(tgid, (__u64)addr, MEMLEAK_DELETE);
	return 0;
}

/* jemalloc's own API: mallocx(size, flags), rallocx(ptr, size, flags) (realloc's contract),
 * xallocx(ptr, size, extra, flags), dallocx(ptr, flags), sdallocx(ptr, size, flags). */
SEC("uprobe")
int MW_KPROBE(mallocx_enter, size_t size)
{
	return enter(MEMLEAK_MALLOCX, size, 0);
}

SEC("uretprobe")
int MW_KRETPROBE(mallocx_exit, void *ret)
{
	return exit_alloc(ctx, MEMLEAK_MALLOCX, (__u64)ret);
}

SEC("uprobe")
int MW_KPROBE(rallocx_enter, void *ptr, size_t size)
{
	return enter(MEMLEAK_RALLOCX, size, (__u64)ptr);
}

SEC("uretprobe")
int MW_KRETPROBE(rallocx_exit, void *ret)
{
	return exit_realloc(ctx, MEMLEAK_RALLOCX, (__u64)ret, ret == NULL);
}

SEC("uprobe")
int MW_KPROBE(xallocx_enter, void *ptr, size_t size)
{
	return enter(MEMLEAK_XALLOCX, size, (__u64)ptr);
}

/* xallocx resizes in place and returns the block's real size: at least `size` when it could
 * resize, the unchanged old size when it could not (the block is then left as recorded). The
 * block is recorded again with that size, at this call's stack, as realloc's would be. */
SEC("uretprobe")
int MW_KRETPROBE(xallocx_exit, size_t ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct inflight call;

	if (!take(MEMLEAK_XALLOCX, &call) || !call.aux || ret < call.size)
		return 0;
	forget(tgid, call.aux, MEMLEAK_XALLOCX);
	if (!call.skip)
		record(ctx, tgid, call.aux, ret, MEMLEAK_XALLOCX, BPF_F_USER_STACK);
	return 0;
}

SEC("uprobe")
int MW_KPROBE(dallocx_enter, void *addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (addr && traced(tgid))
		forget(tgid, (__u64)addr, MEMLEAK_DALLOCX);
	return 0;
}

/* Exec of a target: an armed one (--memleak-command) starts being traced before the new image
 * runs its first instruction (and is put on hold: see `unwind_hold`); a traced one stops,
 * since its address space is gone. */
SEC("tracepoint/sched/sched_process_exec")
int memleak_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *state = bpf_map_lookup_elem(&targets, &tgid), hold = 1;

	if (!state)
		return 0;
	if (*state == MEMLEAK_TARGET_ARM_EXEC) {
		*state = MEMLEAK_TARGET_TRACE;
		bpf_map_update_elem(&unwind_hold, &tgid, &hold, BPF_ANY);
	} else if (*state == MEMLEAK_TARGET_TRACE)
		*state = MEMLEAK_TARGET_EXECED;
	return 0;
}

/* ---- kernel allocations ---------------------------------------------------------------- */

/* Before 6.0 (commit 2c1d697fb8ba, "mm/slab_common: drop kmem_alloc & avoid dereferencing
 * fields when not using") kmalloc and kmem_cache_alloc shared the kmem_alloc event class, and
 * before 5.12 kfree and kmem_cache_free shared kmem_free. */
struct trace_event_raw_kmem_alloc___pre60 {
	unsigned long call_site;
	const void *ptr;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmalloc___x {
	unsigned long call_site;
	const void *ptr;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmem_cache_alloc___x {
	unsigned long call_site;
	const void *ptr;
	size_t bytes_alloc;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmem_free___pre512 {
	unsigned long call_site;
	const void *ptr;
} __attribute__((preserve_access_index));

struct trace_event_raw_kfree___x {
	unsigned long call_site;
	const void *ptr;
} __attribute__((preserve_access_index));

struct trace_event_raw_kmem_cache_free___x {
	unsigned long call_site;
	const void *ptr;
} __attribute__((preserve_access_index));

static __always_inline bool kernel_traced(void)
{
	return !kernel_filter_tgid || traced(bpf_get_current_pid_tgid() >> 32);
}

static __always_inline int kernel_alloc(void *ctx, __u64 addr, __u64 size, __u16 kind)
{
	if (!addr || !kernel_traced() || !keep(size))
		return 0;
	record(ctx, 0, addr, size, kind, 0);
	return 0;
}

/* A field of a kmem event, from the event's own struct where the kernel has it (`type`, by
 * its ___x flavor) or else from the older shared class (`old`). */
#define KMEM_FIELD(ctx, type, old, field)						\
	(bpf_core_type_exists(struct type) ?						\
		 (__u64)BPF_CORE_READ((struct type##___x *)(ctx), field) :		\
		 (__u64)BPF_CORE_READ((struct old *)(ctx), field))

#define KMEM_ALLOC(ctx, type, kind)							\
	kernel_alloc(ctx, KMEM_FIELD(ctx, type, trace_event_raw_kmem_alloc___pre60, ptr),	\
		     KMEM_FIELD(ctx, type, trace_event_raw_kmem_alloc___pre60, bytes_alloc), kind)

static __always_inline int kernel_free(__u64 ptr, __u16 kind)
{
	if (ptr)
		forget(0, ptr, kind);
	return 0;
}

#define KMEM_FREE(ctx, type, kind)							\
	kernel_free(KMEM_FIELD(ctx, type, trace_event_raw_kmem_free___pre512, ptr), kind)

SEC("tracepoint/kmem/kmalloc")
int memleak_kmalloc(void *ctx)
{
	return KMEM_ALLOC(ctx, trace_event_raw_kmalloc, MEMLEAK_KMALLOC);
}

SEC("tracepoint/kmem/kmem_cache_alloc")
int memleak_kmem_cache_alloc(void *ctx)
{
	return KMEM_ALLOC(ctx, trace_event_raw_kmem_cache_alloc, MEMLEAK_KMEM_CACHE);
}

SEC("tracepoint/kmem/kfree")
int memleak_kfree(void *ctx)
{
	return KMEM_FREE(ctx, trace_event_raw_kfree, MEMLEAK_KMALLOC);
}

SEC("tracepoint/kmem/kmem_cache_free")
int memleak_kmem_cache_free(void *ctx)
{
	return KMEM_FREE(ctx, trace_event_raw_kmem_cache_free, MEMLEAK_KMEM_CACHE);
}

SEC("tracepoint/kmem/mm_page_alloc")
int memleak_page_alloc(struct trace_event_raw_mm_page_alloc *ctx)
{
	__u64 pfn = BPF_CORE_READ(ctx, pfn);

	if (pfn == (__u64)-1)	/* allocation failed */
		return 0;
	return kernel_alloc(ctx, pfn, page_size << BPF_CORE_READ(ctx, order), MEMLEAK_PAGE);
}

SEC("tracepoint/kmem/mm_page_free")
int memleak_page_free(struct trace_event_raw_mm_page_free *ctx)
{
	forget(0, BPF_CORE_READ(ctx, pfn), MEMLEAK_PAGE);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
