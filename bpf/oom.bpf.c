// SPDX-License-Identifier: GPL-2.0
/* oom: OOM kills. One record per victim at oom:mark_victim, which runs in the task whose
 * allocation or charge failed (current: the trigger) right after the killer sent SIGKILL:
 * the victim's RSS, swap, page tables, uid and oom_score_adj from its task and mm; the memcg
 * chains of trigger and victim with each level's usage and limit (user space tells a memcg OOM
 * from a global one by the level at its limit); the node's zones; the trigger's latest
 * slow-path retries (oom:reclaim_retry_zone, oom:compact_retry). Then one small record per step
 * of the victim's memory coming back: the reaper's tracepoints and the teardown of its mm
 * (mmap:exit_mmap). No kprobe is needed; where kprobes or fentry exist, oom_kill_process adds
 * the kernel's own struct oom_control (constraint, memcg, order, gfp_mask, totalpages, points). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "oom.h"
#include "kernel_mem.bpf.h"

/* read as src/probes/oom/record.ts declares them, checked against this BTF at start-up */
MW_LAYOUT(oom_kill_event);
MW_LAYOUT(oom_reap_event);

#define SIGKILL 9
/* SEND_SIG_PRIV: the kernel's own signals, as __oom_kill_process sends SIGKILL */
#define MW_SEND_SIG_PRIV ((void *)1)
/* A stashed oom_control or victim task older than this belongs to an earlier kill. */
#define STASH_MAX_AGE_NS 1000000000ULL

const volatile __u32 page_shift = 12;

__u64 events_dropped;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* slow-path retries per thread, attached to its next kill */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct oom_leadup);
} leadups SEC(".maps");

struct ctl_stash {
	__u64 ts_ns;
	__u64 chosen;	/* struct task_struct * of the victim oom_kill_process was given */
	struct oom_ctl ctl;
};

/* a zeroed oom_leadup to insert from: too large for the BPF stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct oom_leadup);
} leadup_init SEC(".maps");

/* never written: zeroes for a kill record, too large for an inlined memset */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct oom_kill_event);
} kill_zero SEC(".maps");

/* oom_control per killing thread, from oom_kill_process to the mark_victim it leads to */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct ctl_stash);
} ctls SEC(".maps");

struct task_stash {
	__u64 ts_ns;
	__u64 task;
};

/* victim task by pid, from the SIGKILL the killer sends it just before mark_victim (for the
 * classic tracepoint, which gives only the pid) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct task_stash);
} victim_tasks SEC(".maps");

/* victims whose memory is not back yet: by pid (reaper tracepoints) and by mm (exit_mmap) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);	/* kill_ts_ns */
} victims SEC(".maps");

struct victim_mm {
	__u64 kill_ts_ns;
	__u32 pid;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct victim_mm);
} victim_mms SEC(".maps");

/* --- reading kernel state ----------------------------------------------------------------- */

static __always_inline void read_memcg(struct mem_cgroup *memcg, struct oom_memcg *out, int oom_kill_idx)
{
	long v = 0;

	out->cgroup_id = BPF_CORE_READ(memcg, css.cgroup, kn, id);
	v = BPF_CORE_READ(memcg, memory.usage.counter);
	out->usage = v < 0 ? 0 : v;
	out->max = BPF_CORE_READ(memcg, memory.max);
	v = BPF_CORE_READ(memcg, memsw.usage.counter);
	out->swap_usage = v < 0 ? 0 : v;
	out->swap_max = BPF_CORE_READ(memcg, memsw.max);
	v = 0;
	if (oom_kill_idx >= 0 && oom_kill_idx < 16)
		bpf_core_read(&v, sizeof(v), &memcg->memory_events[oom_kill_idx]);
	out->oom_kill = v < 0 ? 0 : v;
}

/* The task's memcg, then its ancestors up to the root (css->parent). */
static __always_inline void read_chain(struct task_struct *task, struct oom_memcg_chain *out)
{
	int memory_id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	int oom_kill_idx = bpf_core_enum_value_exists(enum memcg_memory_event, MEMCG_OOM_KILL) ?
			   (int)bpf_core_enum_value(enum memcg_memory_event, MEMCG_OOM_KILL) : -1;
	struct cgroup_subsys_state *css;

	out->depth = 0;
	if (!task || memory_id < 0 || memory_id >= 16)
		return;
	css = BPF_CORE_READ(task, cgroups, subsys[memory_id]);
	for (int i = 0; i < OOM_MEMCG_DEPTH; i++) {
		if (!css)
			break;
		read_memcg((struct mem_cgroup *)css, &out->m[i], oom_kill_idx);	/* css is its first member */
		out->depth = i + 1;
		css = BPF_CORE_READ(css, parent);
	}
}

static __always_inline __u64 rss_member(struct mm_struct *mm, int m)
{
	long c;

	if (bpf_core_type_exists(struct mm_rss_stat___pre62)) {
		struct mm_struct___pre62 *old = (void *)mm;

		c = BPF_CORE_READ(old, rss_stat.count[m].counter);
	} else {
		/* percpu_counter_read_positive(): what get_mm_counter(), and so the kernel's own
		 * mark_victim, reads; per-CPU deltas (up to the batch per CPU) left out */
		struct mm_struct___v62 *cur = (void *)mm;

		c = BPF_CORE_READ(cur, rss_stat[m].count);
	}
	return c < 0 ? 0 : c;
}

/* mm_counter order (MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES), stable since 4.5 */
static __always_inline void read_victim(struct task_struct *task, struct oom_kill_event *e)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	e->flags |= OOM_F_VICTIM_TASK;
	e->victim_pid = BPF_CORE_READ(task, pid);
	e->victim_tgid = BPF_CORE_READ(task, tgid);
	bpf_probe_read_kernel_str(e->victim_comm, sizeof(e->victim_comm), &task->comm);
	e->uid = BPF_CORE_READ(task, real_cred, uid.val);
	e->oom_score_adj = BPF_CORE_READ(task, signal, oom_score_adj);
	if (bpf_core_field_exists(leader->start_boottime))
		e->victim_start_ns = BPF_CORE_READ(leader, start_boottime);
	if (!mm) {
		e->flags |= OOM_F_NO_MM;
		return;
	}
	e->total_vm = BPF_CORE_READ(mm, total_vm);
	e->pgtables_bytes = BPF_CORE_READ(mm, pgtables_bytes.counter);
	e->rss_file = rss_member(mm, 0);
	e->rss_anon = rss_member(mm, 1);
	e->swap_ents = rss_member(mm, 2);
	e->rss_shmem = rss_member(mm, 3);
}

/* Zones and reclaimable node counters of node `nid`, reached through the task's memcg. */
static __always_inline void read_node(struct task_struct *task, __u32 nid, struct oom_node *out)
{
	int slab = MW_NODE_ITEM(node_stat_item, NR_SLAB_RECLAIMABLE_B);
	struct pglist_data *pgdat;

	if (slab < 0)
		slab = MW_NODE_ITEM(node_stat_item___pre59, NR_SLAB_RECLAIMABLE___pre59);
	out->node = nid;
	out->nr_zones = 0;
	pgdat = nid < MW_MAX_NODES ? mw_node_pgdat(task, nid) : NULL;
	if (!pgdat)
		return;
	out->file_lru = mw_node_stat(pgdat, MW_NODE_ITEM(node_stat_item, NR_ACTIVE_FILE)) +
			mw_node_stat(pgdat, MW_NODE_ITEM(node_stat_item, NR_INACTIVE_FILE));
	out->slab_reclaimable = mw_node_stat(pgdat, slab);
	out->misc_reclaimable = mw_node_stat(pgdat,
		MW_NODE_ITEM(node_stat_item___compat, NR_KERNEL_MISC_RECLAIMABLE___compat));
	out->nr_zones = mw_read_zones(pgdat, out->zones);
}

/* --- the kill ----------------------------------------------------------------------------- */

static __always_inline struct oom_kill_event *begin_kill(__u32 hook)
{
	struct oom_kill_event *e;
	__u32 zero = 0;
	void *zeroes = bpf_map_lookup_elem(&kill_zero, &zero);

	if (!zeroes)
		return NULL;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&events_dropped, 1);
		return NULL;
	}
	bpf_probe_read_kernel(e, sizeof(*e), zeroes);
	e->hdr.type = MW_EVENT_OOM;
	e->hdr.size = sizeof(*e);
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->kind = OOM_KIND_KILL;
	e->hook = hook;
	return e;
}

/* The parts every hook fills the same way, once the victim fields are in; then the record goes. */
static __always_inline void finish_kill(struct oom_kill_event *e, struct task_struct *victim,
					struct ctl_stash *stash)
{
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct oom_leadup *lu;
	struct victim_mm vm = {};
	__u64 mm = 0;

	e->trigger_pid = tid;
	e->trigger_tgid = id >> 32;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
	read_chain(cur, &e->trigger_memcg);
	if (victim)
		read_chain(victim, &e->victim_memcg);
	if (stash) {
		e->ctl = stash->ctl;
		e->flags |= OOM_F_CTL;
	}
	read_node(cur, bpf_get_numa_node_id(), &e->node);
	lu = bpf_map_lookup_elem(&leadups, &tid);
	if (lu) {
		__builtin_memcpy(&e->leadup, lu, sizeof(*lu));
		bpf_map_delete_elem(&leadups, &tid);
	}

	/* remembered for the reap records (copies: a helper takes one ring-buffer pointer at most) */
	vm.kill_ts_ns = e->hdr.ts_ns;
	vm.pid = e->victim_pid;
	bpf_map_update_elem(&victims, &vm.pid, &vm.kill_ts_ns, BPF_ANY);
	if (victim)
		mm = (__u64)BPF_CORE_READ(victim, mm);
	if (mm)
		bpf_map_update_elem(&victim_mms, &mm, &vm, BPF_ANY);
	bpf_ringbuf_submit(e, 0);
}

/* The oom_control of the kill this thread is making, if a kprobe/fentry saw it just now. */
static __always_inline struct ctl_stash *fresh_ctl(__u64 now)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ctl_stash *s = bpf_map_lookup_elem(&ctls, &tid);

	if (!s || now - s->ts_ns > STASH_MAX_AGE_NS)
		return NULL;
	return s;
}

/* tp_btf: the victim's task is an argument where mark_victim(task, uid) exists: upstream since
 * 6.9 ("mm: update mark_victim tracepoints fields"; 6.8's only argument is the pid), and in the
 * stable series that took it (Debian's 5.10.262 and 6.1.192 have it: checked in the guests).
 * Where it passes only the pid, this program is refused at load (no such argument) and the
 * classic tracepoint strategy takes over. */
SEC("tp_btf/mark_victim")
int BPF_PROG(oom_mark_victim_btf, struct task_struct *task, uid_t uid)
{
	struct oom_kill_event *e = begin_kill(OOM_HOOK_TP_BTF);

	if (!e)
		return 0;
	read_victim(task, e);
	e->uid = uid;	/* from_kuid(&init_user_ns, task_uid(task)), as the kernel prints it */
	finish_kill(e, task, fresh_ctl(e->hdr.ts_ns));
	return 0;
}

/* mark_victim as recorded: with the task argument it also records comm, RSS (kB), uid, page
 * tables and oom_score_adj; before, the pid only. A local flavor so CO-RE can test the fields. */
struct trace_event_raw_mark_victim___compat {
	int pid;
	__u32 __data_loc_comm;
	unsigned long total_vm;
	unsigned long anon_rss;
	unsigned long file_rss;
	unsigned long shmem_rss;
	uid_t uid;
	unsigned long pgtables;
	short oom_score_adj;
} __attribute__((preserve_access_index));

SEC("tracepoint/oom/mark_victim")
int oom_mark_victim_tp(struct trace_event_raw_mark_victim___compat *ctx)
{
	struct oom_kill_event *e = begin_kill(OOM_HOOK_TRACEPOINT);
	struct task_struct *victim = NULL;
	struct task_stash *ts;
	struct ctl_stash *stash;
	__u32 pid;

	if (!e)
		return 0;
	pid = ctx->pid;
	e->victim_pid = pid;
	/* The victim's task: the one oom_kill_process chose, or the one just sent SIGKILL */
	stash = fresh_ctl(e->hdr.ts_ns);
	if (stash) {
		struct task_struct *chosen = (struct task_struct *)stash->chosen;

		if (chosen && BPF_CORE_READ(chosen, pid) == pid)
			victim = chosen;
	}
	ts = bpf_map_lookup_elem(&victim_tasks, &pid);
	if (ts) {
		if (!victim && e->hdr.ts_ns - ts->ts_ns <= STASH_MAX_AGE_NS)
			victim = (struct task_struct *)ts->task;
		bpf_map_delete_elem(&victim_tasks, &pid);
	}
	if (victim) {
		read_victim(victim, e);
	} else if (bpf_core_field_exists(ctx->anon_rss)) {
		__u32 shift = page_shift > 10 ? page_shift - 10 : 0;
		__u32 loc = ctx->__data_loc_comm;

		e->flags |= OOM_F_TP_FIELDS;
		e->total_vm = ctx->total_vm >> shift;
		e->rss_anon = ctx->anon_rss >> shift;
		e->rss_file = ctx->file_rss >> shift;
		e->rss_shmem = ctx->shmem_rss >> shift;
		e->pgtables_bytes = ctx->pgtables << 10;
		e->uid = ctx->uid;
		e->oom_score_adj = ctx->oom_score_adj;
		bpf_probe_read_kernel_str(e->victim_comm, sizeof(e->victim_comm),
					  (void *)ctx + (loc & 0xffff));
	}
	finish_kill(e, victim, stash);
	return 0;
}

/* The SIGKILL __oom_kill_process sends the victim right before mark_oom_victim(): the classic
 * strategy's way to the victim's task on kernels whose mark_victim gives only a pid. */
SEC("tp_btf/signal_generate")
int BPF_PROG(oom_victim_signal_btf, int sig, struct kernel_siginfo *info, struct task_struct *task)
{
	struct task_stash s;
	__u32 pid;

	if (sig != SIGKILL || (void *)info != MW_SEND_SIG_PRIV)
		return 0;
	pid = BPF_CORE_READ(task, pid);
	s.ts_ns = bpf_ktime_get_ns();
	s.task = (__u64)task;
	bpf_map_update_elem(&victim_tasks, &pid, &s, BPF_ANY);
	return 0;
}

/* --- oom_control, where kprobes or fentry exist ------------------------------------------- */

static __always_inline int stash_ctl(struct oom_control *oc)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct mem_cgroup *memcg = BPF_CORE_READ(oc, memcg);
	struct ctl_stash s = {};

	s.ts_ns = bpf_ktime_get_ns();
	s.chosen = (__u64)BPF_CORE_READ(oc, chosen);
	s.ctl.gfp = BPF_CORE_READ(oc, gfp_mask);
	s.ctl.order = BPF_CORE_READ(oc, order);
	s.ctl.totalpages = BPF_CORE_READ(oc, totalpages);
	s.ctl.chosen_points = BPF_CORE_READ(oc, chosen_points);
	s.ctl.constraint = BPF_CORE_READ(oc, constraint);
	if (memcg)
		s.ctl.memcg_cgroup_id = BPF_CORE_READ(memcg, css.cgroup, kn, id);
	bpf_map_update_elem(&ctls, &tid, &s, BPF_ANY);
	return 0;
}

SEC("kprobe/oom_kill_process")
int BPF_KPROBE(oom_kill_process_kprobe, struct oom_control *oc)
{
	return stash_ctl(oc);
}

SEC("fentry/oom_kill_process")
int BPF_PROG(oom_kill_process_fentry, struct oom_control *oc, const char *message)
{
	return stash_ctl(oc);
}

/* --- the victim's memory coming back ------------------------------------------------------- */

static __always_inline int emit_reap(__u32 pid, __u32 phase, __u64 kill_ts)
{
	struct oom_reap_event *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&events_dropped, 1);
		return 0;
	}
	r->hdr.type = MW_EVENT_OOM;
	r->hdr.size = sizeof(*r);
	r->hdr._pad = 0;
	r->hdr.ts_ns = bpf_ktime_get_ns();
	r->kind = OOM_KIND_REAP;
	r->phase = phase;
	r->victim_pid = pid;
	r->_pad = 0;
	r->kill_ts_ns = kill_ts;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

static __always_inline int on_reap(__u32 pid, __u32 phase)
{
	__u64 *kill_ts = bpf_map_lookup_elem(&victims, &pid);

	if (!kill_ts)
		return 0;	/* not a victim we recorded: nearly every process exit */
	return emit_reap(pid, phase, *kill_ts);
}

static __always_inline int on_exit_mmap(struct mm_struct *mm)
{
	__u64 key = (__u64)mm;
	struct victim_mm *v = bpf_map_lookup_elem(&victim_mms, &key);
	struct victim_mm copy;

	if (!v)
		return 0;
	copy = *v;
	bpf_map_delete_elem(&victim_mms, &key);
	bpf_map_delete_elem(&victims, &copy.pid);
	return emit_reap(copy.pid, OOM_REAP_EXIT_MMAP, copy.kill_ts_ns);
}

SEC("tp_btf/wake_reaper")
int BPF_PROG(oom_wake_reaper_btf, int pid) { return on_reap(pid, OOM_REAP_WAKE); }
SEC("tp_btf/start_task_reaping")
int BPF_PROG(oom_start_reaping_btf, int pid) { return on_reap(pid, OOM_REAP_START); }
SEC("tp_btf/finish_task_reaping")
int BPF_PROG(oom_finish_reaping_btf, int pid) { return on_reap(pid, OOM_REAP_FINISH); }
SEC("tp_btf/skip_task_reaping")
int BPF_PROG(oom_skip_reaping_btf, int pid) { return on_reap(pid, OOM_REAP_SKIP); }
SEC("tp_btf/exit_mmap")
int BPF_PROG(oom_exit_mmap_btf, struct mm_struct *mm) { return on_exit_mmap(mm); }

SEC("tp_btf/sched_process_exit")
int BPF_PROG(oom_exit_btf, struct task_struct *p)
{
	return on_reap(BPF_CORE_READ(p, pid), OOM_REAP_EXIT);
}

/* The four reaper events record the pid alone, in the same layout. */
SEC("tracepoint/oom/wake_reaper")
int oom_wake_reaper_tp(struct trace_event_raw_wake_reaper *ctx) { return on_reap(ctx->pid, OOM_REAP_WAKE); }
SEC("tracepoint/oom/start_task_reaping")
int oom_start_reaping_tp(struct trace_event_raw_wake_reaper *ctx) { return on_reap(ctx->pid, OOM_REAP_START); }
SEC("tracepoint/oom/finish_task_reaping")
int oom_finish_reaping_tp(struct trace_event_raw_wake_reaper *ctx) { return on_reap(ctx->pid, OOM_REAP_FINISH); }
SEC("tracepoint/oom/skip_task_reaping")
int oom_skip_reaping_tp(struct trace_event_raw_wake_reaper *ctx) { return on_reap(ctx->pid, OOM_REAP_SKIP); }

/* mmap:exit_mmap (6.1+, with the maple tree) */
SEC("tracepoint/mmap/exit_mmap")
int oom_exit_mmap_tp(struct trace_event_raw_exit_mmap *ctx) { return on_exit_mmap(ctx->mm); }

/* classic sched_process_exit runs in the exiting task */
SEC("tracepoint/sched/sched_process_exit")
int oom_exit_tp(void *ctx)
{
	return on_reap((__u32)bpf_get_current_pid_tgid(), OOM_REAP_EXIT);
}

/* --- the lead-up: slow-path retries of the allocating task --------------------------------- */

static __always_inline struct oom_retry *next_retry(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct oom_leadup *lu = bpf_map_lookup_elem(&leadups, &tid);
	struct oom_retry *r;
	__u32 i;

	if (!lu) {
		__u32 zero = 0;
		struct oom_leadup *init = bpf_map_lookup_elem(&leadup_init, &zero);

		if (!init)
			return NULL;
		init->total = 0;
		init->first_ts_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&leadups, &tid, init, BPF_NOEXIST);
		lu = bpf_map_lookup_elem(&leadups, &tid);
		if (!lu)
			return NULL;
	}
	i = lu->total % OOM_LEADUP_LEN;
	lu->total++;
	r = &lu->r[i & (OOM_LEADUP_LEN - 1)];
	__builtin_memset(r, 0, sizeof(*r));
	r->ts_ns = bpf_ktime_get_ns();
	return r;
}

static __always_inline int on_reclaim_retry(int node, int zone_idx, int order, __u64 reclaimable,
					    __u64 available, __u64 min_wmark, int loops, bool wmark_check)
{
	struct oom_retry *r = next_retry();

	if (!r)
		return 0;
	r->kind = OOM_RETRY_RECLAIM;
	r->order = order;
	r->node = node;
	r->zone_idx = zone_idx;
	r->no_progress_loops = loops;
	r->wmark_check = wmark_check;
	r->reclaimable = reclaimable;
	r->available = available;
	r->min_wmark = min_wmark;
	return 0;
}

static __always_inline int on_compact_retry(int order, int priority, int result, int retries,
					    int max_retries, bool ret)
{
	struct oom_retry *r = next_retry();

	if (!r)
		return 0;
	r->kind = OOM_RETRY_COMPACT;
	r->order = order;
	r->node = -1;
	r->zone_idx = -1;
	r->priority = priority;
	r->result = result;
	r->retries = retries;
	r->max_retries = max_retries;
	r->should_retry = ret;
	return 0;
}

SEC("tp_btf/reclaim_retry_zone")
int BPF_PROG(oom_reclaim_retry_btf, struct zoneref *zref, int order, unsigned long reclaimable,
	     unsigned long available, unsigned long min_wmark, int no_progress_loops,
	     bool wmark_check)
{
	int node = BPF_CORE_READ(zref, zone, zone_pgdat, node_id);

	return on_reclaim_retry(node, BPF_CORE_READ(zref, zone_idx), order, reclaimable, available,
				min_wmark, no_progress_loops, wmark_check);
}

SEC("tp_btf/compact_retry")
int BPF_PROG(oom_compact_retry_btf, int order, int priority, int result, int retries,
	     int max_retries, bool ret)
{
	return on_compact_retry(order, priority, result, retries, max_retries, ret);
}

SEC("tracepoint/oom/reclaim_retry_zone")
int oom_reclaim_retry_tp(struct trace_event_raw_reclaim_retry_zone *ctx)
{
	return on_reclaim_retry(ctx->node, ctx->zone_idx, ctx->order, ctx->reclaimable,
				ctx->available, ctx->min_wmark, ctx->no_progress_loops,
				ctx->wmark_check);
}

SEC("tracepoint/oom/compact_retry")
int oom_compact_retry_tp(struct trace_event_raw_compact_retry *ctx)
{
	return on_compact_retry(ctx->order, ctx->priority, ctx->result, ctx->retries,
				ctx->max_retries, ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
