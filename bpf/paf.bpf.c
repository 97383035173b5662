// SPDX-License-Identifier: GPL-2.0
/* paf: page allocation failures. kmem:mm_page_alloc fires after the allocator's slow path with
 * a NULL page when an allocation failed; on that path only we count the failure per
 * (order, gfp), take the kernel stack and snapshot every zone of the failing node. The same
 * zone snapshot is sent periodically (when it changed) so zone gauges are live without
 * failures: from a uprobe user space fires once per interval in its own task, or, as a
 * fallback, from a rate-limited hook on sched_switch. oom:reclaim_retry_zone counts slow-path
 * retries. Zones are reached through the task's memcg (kernel_mem.bpf.h): no kprobes needed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "paf.h"

MW_LAYOUT(paf_failure_event);
MW_LAYOUT(paf_zones_event);
#include "kernel_mem.bpf.h"
#include "self_trigger.bpf.h"

/* src/probes/paf.ts reads these layouts at fixed offsets */
_Static_assert(sizeof(struct paf_failure_event) == 512, "paf_failure_event layout changed");
_Static_assert(sizeof(struct paf_zones_event) == 464, "paf_zones_event layout changed");

const volatile __u32 nr_nodes = 1;
const volatile __u64 min_interval_ns = 1000000000ULL;

__u64 last_sample_ns;	/* racy across CPUs by design: a duplicate snapshot is deduplicated */
__u64 events_dropped;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PAF_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct paf_count_key);
	__type(value, __u64);
} fail_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct paf_retry_key);
	__type(value, struct paf_retry_val);
} retries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MW_MAX_NODES);
	__type(key, __u32);
	__type(value, struct paf_zones);
} last_sent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct paf_zones);
} scratch SEC(".maps");

/* --- zone state ------------------------------------------------------------------------- */

/* Every zone of node `nid`. */
static __always_inline void read_zones(struct task_struct *task, __u32 nid, struct paf_zones *out)
{
	struct pglist_data *pgdat = nid < MW_MAX_NODES ? mw_node_pgdat(task, nid) : NULL;

	out->node = nid;
	out->nr_zones = pgdat ? mw_read_zones(pgdat, out->zones) : 0;
}

/* --- failures --------------------------------------------------------------------------- */

static __always_inline void count_failure(__u32 order, __u64 gfp)
{
	struct paf_count_key key = { .gfp = gfp, .order = order };
	__u64 one = 1, *cnt;

	cnt = bpf_map_lookup_elem(&fail_counts, &key);
	if (cnt) {
		__sync_fetch_and_add(cnt, 1);
		return;
	}
	if (bpf_map_update_elem(&fail_counts, &key, &one, BPF_NOEXIST) == 0)
		return;
	cnt = bpf_map_lookup_elem(&fail_counts, &key);	/* another CPU inserted it meanwhile */
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else
		__sync_fetch_and_add(&events_dropped, 1);	/* map full */
}

static __always_inline int on_failure(void *ctx, __u32 order, __u64 gfp, int migratetype,
				      int preferred_node, __u32 source)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	struct paf_failure_event *e;
	__u32 nid;

	count_failure(order, gfp);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&events_dropped, 1);
		return 0;
	}
	__builtin_memset(&e->z, 0, sizeof(e->z));
	e->hdr.type = MW_EVENT_PAF;
	e->hdr.size = sizeof(*e);
	e->hdr._pad = 0;
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->kind = PAF_KIND_FAILURE;
	e->order = order;
	e->gfp = gfp;
	e->migratetype = migratetype;
	e->stack_id = bpf_get_stackid(ctx, &stacks, 0);
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->source = source;
	e->preferred_node = preferred_node;
	/* The allocator starts from the preferred node; the tracepoint does not say which, and
	 * for the allocations that fail it is the local one (numa_node_id()). */
	nid = preferred_node >= 0 ? preferred_node : bpf_get_numa_node_id();
	read_zones(task, nid, &e->z);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* --- periodic zone snapshot ----------------------------------------------------------------- */

static __always_inline void sample_node(struct task_struct *task, __u32 nid, __u64 now)
{
	struct paf_zones *cur, *prev;
	struct paf_zones_event *out;
	__u32 zero = 0;
	bool changed = false;

	cur = bpf_map_lookup_elem(&scratch, &zero);
	prev = bpf_map_lookup_elem(&last_sent, &nid);
	if (!cur || !prev)
		return;
	__builtin_memset(cur, 0, sizeof(*cur));
	read_zones(task, nid, cur);
	if (cur->nr_zones == 0)
		return;
	for (int i = 0; i < sizeof(*cur) / 8; i++) {
		if (((__u64 *)cur)[i] != ((__u64 *)prev)[i]) {
			changed = true;
			break;
		}
	}
	if (!changed)
		return;

	out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	if (!out) {
		__sync_fetch_and_add(&events_dropped, 1);
		return;	/* prev unchanged: the next sample retries */
	}
	__builtin_memcpy(prev, cur, sizeof(*cur));
	out->hdr.type = MW_EVENT_PAF;
	out->hdr.size = sizeof(*out);
	out->hdr._pad = 0;
	out->hdr.ts_ns = now;
	out->kind = PAF_KIND_ZONES;
	out->_pad = 0;
	__builtin_memcpy(&out->z, cur, sizeof(*cur));
	bpf_ringbuf_submit(out, 0);
}

static __always_inline int sample_zones(struct task_struct *task, bool rate_limited)
{
	__u64 now = bpf_ktime_get_ns();

	if (rate_limited) {
		if (now - last_sample_ns < min_interval_ns)
			return 0;
		last_sample_ns = now;
	}
	for (__u32 nid = 0; nid < MW_MAX_NODES; nid++) {
		if (nid >= nr_nodes)
			break;
		sample_node(task, nid, now);
	}
	return 0;
}

/* --- slow-path retries ---------------------------------------------------------------------- */

static __always_inline int on_retry(int node, int zone_idx, int order, __u64 reclaimable,
				    __u64 available, __u64 min_wmark, int loops, bool wmark_check)
{
	struct paf_retry_key key = { .node = node, .zone_idx = zone_idx, .order = order };
	struct paf_retry_val init = {}, *v;

	v = bpf_map_lookup_elem(&retries, &key);
	if (!v) {
		bpf_map_update_elem(&retries, &key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&retries, &key);
		if (!v) {
			__sync_fetch_and_add(&events_dropped, 1);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	v->reclaimable = reclaimable;
	v->available = available;
	v->min_wmark = min_wmark;
	v->no_progress_loops = loops;
	v->wmark_check = wmark_check;
	return 0;
}

/* === Strategies, in the order the loader tries them (src/probes/paf.ts) ===================== */

/* uprobe: user space fires this once per interval in its own task (src/runtime/self-trigger.ts).
 * The zones are node-wide, so our own task's memcg path reaches them, and no context switch of
 * the host pays for the snapshot. Failures are still caught by paf_tp_btf. */
SEC("uprobe")
int paf_zones_uprobe(struct pt_regs *ctx)
{
	if (!mw_self_triggered())
		return 0;
	return sample_zones((struct task_struct *)bpf_get_current_task(), false);
}

/* tp_btf: the tracepoint's own arguments; page == NULL is the failure. It runs on every page
 * allocation of the host: nothing is read before that test. */
SEC("tp_btf/mm_page_alloc")
int BPF_PROG(paf_tp_btf, struct page *page, unsigned int order, gfp_t gfp_flags, int migratetype)
{
	if (page)
		return 0;
	return on_failure(ctx, order, (__u32)gfp_flags, migratetype, -1, PAF_SOURCE_TRACEPOINT);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(paf_zones_tp_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return sample_zones(prev, true);
}

SEC("tp_btf/reclaim_retry_zone")
int BPF_PROG(paf_retry_tp_btf, struct zoneref *zref, int order, unsigned long reclaimable,
	     unsigned long available, unsigned long min_wmark, int no_progress_loops,
	     bool wmark_check)
{
	int node = BPF_CORE_READ(zref, zone, zone_pgdat, node_id);

	return on_retry(node, BPF_CORE_READ(zref, zone_idx), order, reclaimable, available,
			min_wmark, no_progress_loops, wmark_check);
}

/* tracepoint: the recorded fields; pfn is -1UL when the page is NULL. */
SEC("tracepoint/kmem/mm_page_alloc")
int paf_tracepoint(struct trace_event_raw_mm_page_alloc___compat *ctx)
{
	__u64 gfp;

	if (ctx->pfn != (unsigned long)-1)
		return 0;
	/* bpf_core_field_size(gfp_flags) bytes at its relocated offset (4 on 5.10, 8 on 6.1),
	 * widened to u64. A plain load would carry the relocation itself, and libbpf refuses a
	 * load whose size is not the local field's; a modified ctx pointer cannot be dereferenced. */
	gfp = BPF_CORE_READ_BITFIELD_PROBED(ctx, gfp_flags);
	return on_failure(ctx, ctx->order, gfp, ctx->migratetype, -1, PAF_SOURCE_TRACEPOINT);
}

SEC("tracepoint/sched/sched_switch")
int paf_zones_tracepoint(void *ctx)
{
	return sample_zones((struct task_struct *)bpf_get_current_task(), true);
}

SEC("tracepoint/oom/reclaim_retry_zone")
int paf_retry_tracepoint(struct trace_event_raw_reclaim_retry_zone *ctx)
{
	return on_retry(ctx->node, ctx->zone_idx, ctx->order, ctx->reclaimable, ctx->available,
			ctx->min_wmark, ctx->no_progress_loops, ctx->wmark_check);
}

/* kprobe (the original tool's pair): __alloc_pages entry saves its arguments per thread, the return
 * sees the NULL. Allocations nest (an interrupt allocating while this thread is inside the
 * allocator), hence a small per-thread stack of calls. */
#define PAF_NEST 4	/* a power of two */

struct paf_call {
	__u64 gfp;
	__u32 order;
	__s32 nid;
};

struct paf_calls {
	__u32 depth;
	__u32 _pad;
	struct paf_call call[PAF_NEST];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct paf_calls);
} inflight SEC(".maps");

/* An index the verifier sees bounded: clang drops a plain mask after a `d < PAF_NEST` test
 * and then indexes with a copy of d the verifier knows nothing about. */
static __always_inline __u32 slot(__u32 d)
{
	barrier_var(d);
	return d & (PAF_NEST - 1);
}

SEC("kprobe/__alloc_pages")
int BPF_KPROBE(paf_alloc_entry, gfp_t gfp, unsigned int order, int preferred_nid)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct paf_calls init = {}, *c;
	__u32 d;

	c = bpf_map_lookup_elem(&inflight, &id);
	if (!c) {
		bpf_map_update_elem(&inflight, &id, &init, BPF_ANY);
		c = bpf_map_lookup_elem(&inflight, &id);
		if (!c)
			return 0;
	}
	d = c->depth;
	if (d < PAF_NEST) {
		__u32 i = slot(d);

		c->call[i].gfp = (__u32)gfp;
		c->call[i].order = order;
		c->call[i].nid = preferred_nid;
	}
	c->depth = d + 1;
	return 0;
}

SEC("kretprobe/__alloc_pages")
int BPF_KRETPROBE(paf_alloc_return, struct page *page)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct paf_call call = {};
	struct paf_calls *c;
	bool failed;
	__u32 d;

	c = bpf_map_lookup_elem(&inflight, &id);
	if (!c || c->depth == 0)
		return 0;
	d = c->depth - 1;
	c->depth = d;
	failed = !page && d < PAF_NEST;
	if (failed)
		call = c->call[slot(d)];	/* copied before the element can go */
	if (d == 0)
		bpf_map_delete_elem(&inflight, &id);
	if (!failed)
		return 0;
	/* gfp_migratetype(): __GFP_MOVABLE and __GFP_RECLAIMABLE are bits 3 and 4, shifted to
	 * MIGRATE_MOVABLE (1) and MIGRATE_RECLAIMABLE (2) */
	return on_failure(ctx, call.order, call.gfp, (call.gfp >> 3) & 3, call.nid,
			  PAF_SOURCE_KRETPROBE);
}

SEC("kprobe/finish_task_switch")
int BPF_KPROBE(paf_zones_kprobe)
{
	return sample_zones((struct task_struct *)bpf_get_current_task(), true);
}

char LICENSE[] SEC("license") = "GPL";
