// SPDX-License-Identifier: GPL-2.0
/* sysstat: per-node memory counters, sampled at most once per interval from whatever task is
 * being switched out, and emitted only when they changed: an idle host produces no events. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sysstat.h"
#include "kernel_mem.bpf.h"
#include "self_trigger.bpf.h"

const volatile __u32 nr_nodes = 1;
const volatile __u64 min_interval_ns = 1000000000ULL;

__u64 last_sample_ns;

/* One CPU samples at a time. Hash insertion with BPF_NOEXIST is atomic under the bucket lock,
 * which makes this a try-lock on every kernel from 5.10 (bpf_spin_lock is refused in tracepoint
 * and kprobe programs, cmpxchg needs 5.12): without it, two CPUs switching tasks in the same
 * microsecond both pass the rate limit and send the same sample twice. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sampling SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MW_MAX_NODES);
	__type(key, __u32);
	__type(value, struct sysstat_event);
} last_sent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sysstat_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

__u64 events_dropped;

static __always_inline void item_index(int idx[SYSSTAT_NR_ITEMS])
{
	idx[SYSSTAT_INACTIVE_ANON] = MW_NODE_ITEM(node_stat_item, NR_INACTIVE_ANON);
	idx[SYSSTAT_ACTIVE_ANON] = MW_NODE_ITEM(node_stat_item, NR_ACTIVE_ANON);
	idx[SYSSTAT_INACTIVE_FILE] = MW_NODE_ITEM(node_stat_item, NR_INACTIVE_FILE);
	idx[SYSSTAT_ACTIVE_FILE] = MW_NODE_ITEM(node_stat_item, NR_ACTIVE_FILE);
	idx[SYSSTAT_UNEVICTABLE] = MW_NODE_ITEM(node_stat_item, NR_UNEVICTABLE);
	idx[SYSSTAT_FILE_DIRTY] = MW_NODE_ITEM(node_stat_item, NR_FILE_DIRTY);
	idx[SYSSTAT_WRITEBACK] = MW_NODE_ITEM(node_stat_item, NR_WRITEBACK);
	idx[SYSSTAT_ANON_MAPPED] = MW_NODE_ITEM(node_stat_item, NR_ANON_MAPPED);
	idx[SYSSTAT_FILE_MAPPED] = MW_NODE_ITEM(node_stat_item, NR_FILE_MAPPED);
	idx[SYSSTAT_SHMEM] = MW_NODE_ITEM(node_stat_item, NR_SHMEM);
	idx[SYSSTAT_SLAB_RECLAIMABLE] = MW_NODE_ITEM(node_stat_item, NR_SLAB_RECLAIMABLE_B);
	if (idx[SYSSTAT_SLAB_RECLAIMABLE] < 0)
		idx[SYSSTAT_SLAB_RECLAIMABLE] =
			MW_NODE_ITEM(node_stat_item___pre59, NR_SLAB_RECLAIMABLE___pre59);
	idx[SYSSTAT_SLAB_UNRECLAIMABLE] = MW_NODE_ITEM(node_stat_item, NR_SLAB_UNRECLAIMABLE_B);
	if (idx[SYSSTAT_SLAB_UNRECLAIMABLE] < 0)
		idx[SYSSTAT_SLAB_UNRECLAIMABLE] =
			MW_NODE_ITEM(node_stat_item___pre59, NR_SLAB_UNRECLAIMABLE___pre59);
	idx[SYSSTAT_KERNEL_MISC_RECLAIMABLE] =
		MW_NODE_ITEM(node_stat_item___compat, NR_KERNEL_MISC_RECLAIMABLE___compat);
	idx[SYSSTAT_UNSTABLE_NFS] = MW_NODE_ITEM(node_stat_item___compat, NR_UNSTABLE_NFS___compat);
	idx[SYSSTAT_WRITEBACK_TEMP] =
		MW_NODE_ITEM(node_stat_item___compat, NR_WRITEBACK_TEMP___compat);
	idx[SYSSTAT_ANON_THPS] = MW_NODE_ITEM(node_stat_item___compat, NR_ANON_THPS___compat);
	idx[SYSSTAT_SHMEM_THPS] = MW_NODE_ITEM(node_stat_item___compat, NR_SHMEM_THPS___compat);
}

static __always_inline void sample_node(struct task_struct *task, __u32 nid, const int *idx,
					__u64 now)
{
	struct sysstat_event *cur, *prev, *out;
	struct pglist_data *pgdat;
	__u32 zero = 0;
	bool changed = false;

	pgdat = mw_node_pgdat(task, nid);
	if (!pgdat)
		return;
	cur = bpf_map_lookup_elem(&scratch, &zero);
	prev = bpf_map_lookup_elem(&last_sent, &nid);
	if (!cur || !prev)
		return;

	cur->present_mask = 0;
	for (int i = 0; i < SYSSTAT_NR_ITEMS; i++) {
		cur->pages[i] = idx[i] >= 0 ? mw_node_stat(pgdat, idx[i]) : 0;
		if (idx[i] >= 0)
			cur->present_mask |= 1U << i;
		if (cur->pages[i] != prev->pages[i])
			changed = true;
	}
	if (!changed && prev->hdr.type == MW_EVENT_SYSSTAT)
		return;

	cur->hdr.type = MW_EVENT_SYSSTAT;
	cur->hdr.size = sizeof(*cur);
	cur->hdr.ts_ns = now;
	cur->node = nid;
	__builtin_memcpy(prev, cur, sizeof(*cur));

	out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	if (!out) {
		__sync_fetch_and_add(&events_dropped, 1);
		/* forget what was sent so the next sample retries this node */
		prev->hdr.type = 0;
		return;
	}
	__builtin_memcpy(out, cur, sizeof(*out));
	bpf_ringbuf_submit(out, 0);
}

static __always_inline int sample(struct task_struct *task, bool rate_limited)
{
	int idx[SYSSTAT_NR_ITEMS];
	__u64 now = bpf_ktime_get_ns();

	__u32 key = 0;

	if (rate_limited) {
		/* cheap unlocked test first: every context switch of the host runs it */
		if ((__s64)(now - last_sample_ns) < (__s64)min_interval_ns)
			return 0;
		if (bpf_map_update_elem(&sampling, &key, &key, BPF_NOEXIST))
			return 0;	/* another CPU is sampling */
		/* re-check under the lock: the winner before us may have just finished */
		if ((__s64)(now - last_sample_ns) < (__s64)min_interval_ns) {
			bpf_map_delete_elem(&sampling, &key);
			return 0;
		}
		last_sample_ns = now;
	}

	item_index(idx);
	for (__u32 nid = 0; nid < MW_MAX_NODES; nid++) {
		if (nid >= nr_nodes)
			break;
		sample_node(task, nid, idx, now);
	}
	if (rate_limited)
		bpf_map_delete_elem(&sampling, &key);
	return 0;
}

/* Strategies, in the order the loader tries them (src/probes/sysstat.ts). */

/* User space fires this once per interval in its own task (src/runtime/self-trigger.ts): the
 * counters are node-wide, so any task's memcg path reaches them, and no context switch of the
 * host pays for sampling. */
SEC("uprobe")
int sysstat_uprobe(struct pt_regs *ctx)
{
	if (!mw_self_triggered())
		return 0;
	return sample((struct task_struct *)bpf_get_current_task(), false);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sysstat_tp_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return sample(prev, true);
}

SEC("tracepoint/sched/sched_switch")
int sysstat_tracepoint(void *ctx)
{
	return sample((struct task_struct *)bpf_get_current_task(), true);
}

SEC("fentry/finish_task_switch")
int BPF_PROG(sysstat_fentry, struct task_struct *prev)
{
	return sample(prev, true);
}

SEC("kprobe/finish_task_switch")
int BPF_KPROBE(sysstat_kprobe, struct task_struct *prev)
{
	return sample(prev, true);
}

char LICENSE[] SEC("license") = "GPL";
