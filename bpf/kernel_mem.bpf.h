/* Reaching the kernel's per-node memory counters without kprobes or data symbols:
 * task -> css_set -> memory cgroup css (first member of struct mem_cgroup) ->
 * nodeinfo[nid] -> lruvec.pgdat, the node's struct pglist_data. Every memcg's lruvec on a node
 * points at the same pgdat, so any task's memcg will do. */
#ifndef MEMWATCHER_KERNEL_MEM_BPF_H
#define MEMWATCHER_KERNEL_MEM_BPF_H

#include "core_fixes.bpf.h"

static __always_inline struct pglist_data *mw_node_pgdat(struct task_struct *task, int nid)
{
	int memory_id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css;
	struct mem_cgroup_per_node *pn;
	struct mem_cgroup *memcg;

	if (memory_id < 0 || memory_id >= 16)
		return NULL;
	css = BPF_CORE_READ(task, cgroups, subsys[memory_id]);
	if (!css)
		return NULL;	/* memory controller disabled (cgroup_disable=memory) */
	memcg = (struct mem_cgroup *)css;
	if (bpf_core_read(&pn, sizeof(pn), &memcg->nodeinfo[nid]) || !pn)
		return NULL;
	return BPF_CORE_READ(pn, lruvec.pgdat);
}

static __always_inline long mw_node_stat(struct pglist_data *pgdat, int item)
{
	long v = 0;

	if (item < 0 || item >= 128)
		return 0;
	bpf_core_read(&v, sizeof(v), &pgdat->vm_stat[item]);
	return v < 0 ? 0 : v;	/* per-cpu drift can leave a counter transiently negative */
}

#endif
