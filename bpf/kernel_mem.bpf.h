/* Reaching the kernel's per-node memory counters without kprobes or data symbols:
 * task -> css_set -> memory cgroup css (first member of struct mem_cgroup) ->
 * nodeinfo[nid] -> lruvec.pgdat, the node's struct pglist_data. Every memcg's lruvec on a node
 * points at the same pgdat, so any task's memcg will do. */
#ifndef MEMWATCHER_KERNEL_MEM_BPF_H
#define MEMWATCHER_KERNEL_MEM_BPF_H

#include "core_fixes.bpf.h"
#include "common.h"

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

static __always_inline void mw_read_zone(struct zone *z, struct mw_zone *out, int free_idx)
{
	struct zone___pre50 *old = (void *)z;
	const char *name;
	long free = 0;

	if (bpf_core_field_exists(z->_watermark)) {
		out->wmark_min = BPF_CORE_READ(z, _watermark[0]);
		out->wmark_low = BPF_CORE_READ(z, _watermark[1]);
		out->wmark_high = BPF_CORE_READ(z, _watermark[2]);
		out->boost = BPF_CORE_READ(z, watermark_boost);
	} else {
		out->wmark_min = BPF_CORE_READ(old, watermark[0]);
		out->wmark_low = BPF_CORE_READ(old, watermark[1]);
		out->wmark_high = BPF_CORE_READ(old, watermark[2]);
		out->boost = 0;
	}
	if (bpf_core_field_exists(old->managed_pages))
		out->managed = BPF_CORE_READ(old, managed_pages);
	else
		out->managed = BPF_CORE_READ(z, managed_pages.counter);
	out->present = BPF_CORE_READ(z, present_pages);
	out->spanned = BPF_CORE_READ(z, spanned_pages);
	if (free_idx >= 0 && free_idx < 64)
		bpf_core_read(&free, sizeof(free), &z->vm_stat[free_idx]);
	out->free = free < 0 ? 0 : free;	/* zone_page_state() clamps per-cpu drift the same way */
	name = BPF_CORE_READ(z, name);
	if (!name || bpf_probe_read_kernel_str(out->name, sizeof(out->name), name) < 0)
		out->name[0] = '\0';
}

/* Every zone of a node, in zone index order; returns how many were read. node_zones[] is
 * indexed with the running kernel's sizeof(struct zone), which differs between kernels and
 * configs. */
static __always_inline __u32 mw_read_zones(struct pglist_data *pgdat, struct mw_zone *zones)
{
	int nr = bpf_core_enum_value(enum zone_type, __MAX_NR_ZONES);
	__u64 zone_size = bpf_core_type_size(struct zone);
	__u64 zones_off = bpf_core_field_offset(struct pglist_data, node_zones);
	int free_idx = bpf_core_enum_value(enum zone_stat_item, NR_FREE_PAGES);

	if (nr > MW_MAX_ZONES)
		nr = MW_MAX_ZONES;
	for (int i = 0; i < MW_MAX_ZONES; i++) {
		if (i >= nr)
			break;
		mw_read_zone((struct zone *)((void *)pgdat + zones_off + i * zone_size), &zones[i], free_idx);
	}
	return nr < 0 ? 0 : nr;
}

#endif
