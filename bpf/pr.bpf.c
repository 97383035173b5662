// SPDX-License-Identifier: GPL-2.0
/* pr: page reclaim. Every pass of shrink_inactive_list (vmscan:mm_vmscan_lru_shrink_inactive)
 * is summed into per-CPU counters of the source that ran it:
 *   kswapd  the task is kswapd (PF_KSWAPD)
 *   direct  inside mm_vmscan_direct_reclaim_begin/end of this thread, or any other reclaim a
 *           task does in its own context without a bracket (node_reclaim, hibernation)
 *   memcg   inside mm_vmscan_memcg_reclaim_begin/end, or memcg_softlimit_reclaim_begin/end
 *           (which kswapd and global direct reclaim run nested, cgroup v1 only)
 * Direct and memcg calls are timed begin to end and each end is one ring buffer record.
 * With MGLRU enabled (lru_gen), older kernels evict without the shrink_inactive event (seen on
 * 6.1; 6.12 emits it from evict_folios): passes are not seen there, the calls (count, time,
 * nr_reclaimed of the end event) still are. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pr.h"

MW_LAYOUT(pr_stall_event);

/* include/linux/sched.h, unchanged since kswapd got its flag */
#define MW_PF_KSWAPD 0x00020000

/* A thread's open reclaim call; the entry exists only while the call runs. */
struct pr_thread {
	__u64 begin_ns;
	__u64 gfp;
	__s32 order;
	__u8 source;	/* PR_SOURCE_DIRECT, PR_SOURCE_MEMCG, or PR_NR_SOURCES: none open */
	__u8 softlimit;	/* open memcg_softlimit brackets */
	__u16 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pr_totals);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);	/* threads inside reclaim at the same time */
	__type(key, __u32);
	__type(value, struct pr_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* stall records lost: ring buffer full, or a call begun while `threads` was full */
__u64 events_dropped;

static __always_inline struct pr_counters *counters_of(__u32 source)
{
	__u32 zero = 0;
	struct pr_totals *t = bpf_map_lookup_elem(&totals, &zero);

	if (!t || source >= PR_NR_SOURCES)
		return NULL;
	return &t->src[source];
}

static __always_inline __u32 current_source(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pr_thread *t = bpf_map_lookup_elem(&threads, &tid);
	struct task_struct *task;

	if (t) {
		if (t->softlimit)
			return PR_SOURCE_MEMCG;
		if (t->source < PR_NR_SOURCES)
			return t->source;
	}
	task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, flags) & MW_PF_KSWAPD)
		return PR_SOURCE_KSWAPD;
	return PR_SOURCE_DIRECT;
}

/* Atomic although per-CPU: a preemptible kernel may run this program for another task on the
 * same CPU between a load and its store. Zeros are skipped: most fields are 0 in most passes,
 * and clang turns an add of a constant 0 into an atomic OR, which kernels before 5.12 reject. */
#define ADD(field, v)                                   \
	do {                                            \
		__u64 __v = (v);                        \
		if (__v)                                \
			__sync_fetch_and_add(&(field), __v); \
	} while (0)

static __always_inline void count_pass(__u64 scanned, __u64 reclaimed, __u64 unqueued_dirty,
				       __u64 congested, __u64 writeback, __u64 immediate,
				       __u64 activated)
{
	struct pr_counters *c = counters_of(current_source());

	if (!c)
		return;
	ADD(c->passes, 1);
	ADD(c->scanned, scanned);
	ADD(c->reclaimed, reclaimed);
	ADD(c->unqueued_dirty, unqueued_dirty);
	ADD(c->congested, congested);
	ADD(c->writeback, writeback);
	ADD(c->immediate, immediate);
	ADD(c->activated, activated);
}

static __always_inline void count_folio_list(struct scan_control *sc)
{
	struct pr_counters *c = counters_of(current_source());

	if (!c)
		return;
	ADD(c->folio_lists, 1);
	ADD(c->nr_to_reclaim, BPF_CORE_READ(sc, nr_to_reclaim));
}

static __always_inline void call_begin(__u8 source, int order, __u64 gfp)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pr_thread t = {
		.begin_ns = bpf_ktime_get_ns(),
		.gfp = gfp,
		.order = order,
		.source = source,
	};

	if (bpf_map_update_elem(&threads, &tid, &t, BPF_ANY))
		__sync_fetch_and_add(&events_dropped, 1);
}

static __always_inline void call_end(__u8 source, __u64 nr_reclaimed)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pr_thread *t = bpf_map_lookup_elem(&threads, &tid);
	struct pr_stall_event *e;
	struct pr_counters *c;
	__u64 now, duration;

	if (!t || t->source != source)
		return;	/* began before we attached */
	now = bpf_ktime_get_ns();
	duration = now - t->begin_ns;
	c = counters_of(source);
	if (c) {
		ADD(c->calls, 1);
		ADD(c->call_reclaimed, nr_reclaimed);
		ADD(c->stall_ns, duration);
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->hdr.type = MW_EVENT_PR;
		e->hdr.size = sizeof(*e);
		e->hdr._pad = 0;
		e->hdr.ts_ns = now;
		e->source = source;
		e->tid = tid;
		e->duration_ns = duration;
		e->nr_reclaimed = nr_reclaimed;
		e->gfp = t->gfp;
		e->order = t->order;
		e->_pad = 0;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_ringbuf_submit(e, 0);
	} else {
		__sync_fetch_and_add(&events_dropped, 1);
	}
	bpf_map_delete_elem(&threads, &tid);
}

/* Soft limit reclaim is not timed as a stall: it runs inside kswapd (no task waits on it) or
 * inside a direct reclaim call whose stall already covers it. It only sets the source. */
static __always_inline void softlimit_begin(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pr_thread *t = bpf_map_lookup_elem(&threads, &tid);
	struct pr_thread fresh = { .source = PR_NR_SOURCES, .softlimit = 1 };

	if (t) {
		t->softlimit++;
		return;
	}
	if (bpf_map_update_elem(&threads, &tid, &fresh, BPF_ANY))
		__sync_fetch_and_add(&events_dropped, 1);
}

static __always_inline void softlimit_end(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pr_thread *t = bpf_map_lookup_elem(&threads, &tid);

	if (!t)
		return;
	if (t->softlimit)
		t->softlimit--;
	if (!t->softlimit && t->source >= PR_NR_SOURCES)
		bpf_map_delete_elem(&threads, &tid);
}

/* Programs, grouped into strategies by src/probes/pr.ts. */

/* tp_btf: the tracepoint's own arguments, including struct reclaim_stat (nr_unqueued_dirty) */
SEC("tp_btf/mm_vmscan_lru_shrink_inactive")
int BPF_PROG(pr_shrink_inactive_btf, int nid, unsigned long nr_scanned, unsigned long nr_reclaimed,
	     struct reclaim_stat *stat)
{
	count_pass(nr_scanned, nr_reclaimed, BPF_CORE_READ(stat, nr_unqueued_dirty),
		   BPF_CORE_READ(stat, nr_congested), BPF_CORE_READ(stat, nr_writeback),
		   BPF_CORE_READ(stat, nr_immediate),
		   (__u64)BPF_CORE_READ(stat, nr_activate[0]) + BPF_CORE_READ(stat, nr_activate[1]));
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(pr_direct_begin_btf, int order, gfp_t gfp)
{
	call_begin(PR_SOURCE_DIRECT, order, gfp);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(pr_direct_end_btf, unsigned long nr_reclaimed)
{
	call_end(PR_SOURCE_DIRECT, nr_reclaimed);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(pr_memcg_begin_btf, int order, gfp_t gfp)
{
	call_begin(PR_SOURCE_MEMCG, order, gfp);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(pr_memcg_end_btf, unsigned long nr_reclaimed)
{
	call_end(PR_SOURCE_MEMCG, nr_reclaimed);
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_softlimit_reclaim_begin")
int BPF_PROG(pr_softlimit_begin_btf)
{
	softlimit_begin();
	return 0;
}

SEC("tp_btf/mm_vmscan_memcg_softlimit_reclaim_end")
int BPF_PROG(pr_softlimit_end_btf)
{
	softlimit_end();
	return 0;
}

/* tracepoint: the classic event copies reclaim_stat field by field but leaves out
 * nr_unqueued_dirty (its nr_dirty counts every dirty page, queued for writeback or not). */
SEC("tracepoint/vmscan/mm_vmscan_lru_shrink_inactive")
int pr_shrink_inactive_tp(struct trace_event_raw_mm_vmscan_lru_shrink_inactive *ctx)
{
	count_pass(ctx->nr_scanned, ctx->nr_reclaimed, 0, ctx->nr_congested, ctx->nr_writeback,
		   ctx->nr_immediate, (__u64)ctx->nr_activate0 + ctx->nr_activate1);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_begin")
int pr_direct_begin_tp(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx)
{
	call_begin(PR_SOURCE_DIRECT, ctx->order, ctx->gfp_flags);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_end")
int pr_direct_end_tp(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	call_end(PR_SOURCE_DIRECT, ctx->nr_reclaimed);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_begin")
int pr_memcg_begin_tp(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx)
{
	call_begin(PR_SOURCE_MEMCG, ctx->order, ctx->gfp_flags);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_end")
int pr_memcg_end_tp(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	call_end(PR_SOURCE_MEMCG, ctx->nr_reclaimed);
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_softlimit_reclaim_begin")
int pr_softlimit_begin_tp(void *ctx)
{
	softlimit_begin();
	return 0;
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_softlimit_reclaim_end")
int pr_softlimit_end_tp(void *ctx)
{
	softlimit_end();
	return 0;
}

/* The original tool's hook: shrink_folio_list (shrink_page_list before 6.1) is where scan_control, and
 * with it nr_to_reclaim (the RECLAIM column), is in reach. One call per pass. */
SEC("kprobe/shrink_folio_list")
int BPF_KPROBE(pr_folio_list_kprobe, void *list, void *pgdat, struct scan_control *sc)
{
	count_folio_list(sc);
	return 0;
}

SEC("fentry/shrink_folio_list")
int BPF_PROG(pr_folio_list_fentry, void *list, void *pgdat, struct scan_control *sc)
{
	count_folio_list(sc);
	return 0;
}

SEC("fentry/shrink_page_list")
int BPF_PROG(pr_page_list_fentry, void *list, void *pgdat, struct scan_control *sc)
{
	count_folio_list(sc);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
