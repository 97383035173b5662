// SPDX-License-Identifier: GPL-2.0
/* procstat: per-process memory counters read from each process's mm_struct and emitted only
 * when they changed: a process whose memory does not change costs no record after its first.
 *
 * First strategy: a task iterator that user space runs once per interval (procstat_iter): every
 * process is read in mem-watcher's own read() and nothing runs on the host's context switches
 * or page faults; exits come from sched_process_exit.
 *
 * Fallback strategies read the task being switched out, at most once per interval per process.
 *
 * A change made just before a process goes to sleep falls inside the rate limit of its last
 * read; that read is deferred (the `deferred` queue) and done by whichever context switch
 * comes next after the interval, from a pointer to a live thread of the process. RSS changes
 * made by others while the process sleeps (reclaim, swap-out, process_madvise) are seen
 * through the rss_stat tracepoint and deferred the same way. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "procstat.h"

MW_LAYOUT(procstat_event);
MW_LAYOUT(procstat_exit_event);
#include "core_fixes.bpf.h"

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000

/* Per-CPU RSS deltas are summed over at most this many possible CPUs (see mw_rss_v62). */
#define MW_MAX_CPUS 1024
/* Deferred reads done per context switch, at most. */
#define FLUSH_BATCH 8

const volatile __u64 min_interval_ns = 1000000000ULL;
const volatile __u32 nr_cpus = 1;

struct proc_state {
	struct procstat_values sent;
	__u64 last_read_ns;
	__u64 task;	/* a thread of the group not yet past its exit hook, for deferred reads */
	__u32 pending;	/* a deferred read is queued */
	__u32 _pad;
};

struct deferred_read {
	__u32 tgid;
	__u32 _pad;
	__u64 due_ns;
};

/* max_entries of both set from probes.procstat.max_processes before load */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct proc_state);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 32768);
	__type(value, struct deferred_read);
} deferred SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Finds the per-CPU offsets (see mw_cpu_offsets) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cpu_probe SEC(".maps");

struct rss_sum {
	__s64 v[PROCSTAT_RSS_NR];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rss_sum);
} rss_scratch SEC(".maps");

__u64 events_dropped;
__u64 next_flush_ns;	/* racy across CPUs by design: a late flush only delays a deferred read */

/* cpu_slot[c] - cpu_base is CPU c's per-CPU offset (__per_cpu_offset[c], which is no ksym on a
 * kernel without KALLSYMS_ALL). Computed once. */
__u64 cpu_slot[MW_MAX_CPUS];
__u64 cpu_base;
__u64 cpu_probe_addr;
__u32 cpu_offsets_state;	/* 0 not yet, 1 ready, 2 unavailable */

/* The address of cpu_probe's only element in CPU c's per-CPU area, minus the per-CPU pointer
 * the map keeps for it, is CPU c's per-CPU offset. Pointers go through a global to become
 * plain numbers. Global function: verified once, and on its own (so the 6.2+-only helper sits
 * behind the CO-RE check here, not in a caller). */
__noinline int mw_cpu_offsets(void)
{
	__u32 zero = 0;
	__u64 map;

	if (bpf_core_type_exists(struct mm_rss_stat___pre62))
		return -1;
	if (cpu_offsets_state)
		return cpu_offsets_state == 1 ? 0 : -1;
	*(volatile __u64 *)&cpu_probe_addr = (__u64)(void *)&cpu_probe;
	map = *(volatile __u64 *)&cpu_probe_addr;
	if (bpf_probe_read_kernel(&cpu_base, sizeof(cpu_base),
				  (void *)(map + bpf_core_field_offset(struct bpf_array, pptrs)))) {
		cpu_offsets_state = 2;
		return -1;
	}
	for (__u32 c = 0; c < MW_MAX_CPUS; c++) {
		void *p;

		if (c >= nr_cpus)
			break;
		p = bpf_map_lookup_percpu_elem(&cpu_probe, &zero, c);
		if (!p) {
			cpu_offsets_state = 2;
			return -1;
		}
		*(volatile __u64 *)&cpu_slot[c] = (__u64)p;
	}
	cpu_offsets_state = 1;
	return 0;
}

/* Since 6.2 (f1a7941243c1) each mm->rss_stat[i] is a percpu_counter: `count` plus per-CPU
 * deltas of up to the batch size. The exact value is their sum, clamped at 0: what
 * percpu_counter_sum_positive() returns, and what /proc/PID/status shows since 6.16
 * (82241a83cd15, get_mm_counter_sum in task_mem). Result in rss_scratch. */
__noinline int mw_rss_v62(__u64 mm_addr)
{
	struct mm_struct___v62 *mm = (void *)mm_addr;
	__u64 counters[PROCSTAT_RSS_NR];
	struct rss_sum *out;
	__u32 zero = 0;

	if (bpf_core_type_exists(struct mm_rss_stat___pre62))
		return -1;
	out = bpf_map_lookup_elem(&rss_scratch, &zero);
	if (!out)
		return -1;
	out->v[0] = BPF_CORE_READ(mm, rss_stat[0].count);
	out->v[1] = BPF_CORE_READ(mm, rss_stat[1].count);
	out->v[2] = BPF_CORE_READ(mm, rss_stat[2].count);
	out->v[3] = BPF_CORE_READ(mm, rss_stat[3].count);
	counters[0] = (__u64)BPF_CORE_READ(mm, rss_stat[0].counters);
	counters[1] = (__u64)BPF_CORE_READ(mm, rss_stat[1].counters);
	counters[2] = (__u64)BPF_CORE_READ(mm, rss_stat[2].counters);
	counters[3] = (__u64)BPF_CORE_READ(mm, rss_stat[3].counters);
	if (mw_cpu_offsets() == 0) {
		for (__u32 c = 0; c < MW_MAX_CPUS; c++) {
			__u64 off;

			if (c >= nr_cpus)
				break;
			off = cpu_slot[c] - cpu_base;
			for (int m = 0; m < PROCSTAT_RSS_NR; m++) {
				__s32 d = 0;

				bpf_probe_read_kernel(&d, sizeof(d), (void *)(counters[m] + off));
				out->v[m] += d;
			}
		}
	}
	return 0;
}

static __always_inline int read_values(struct mm_struct *mm, struct procstat_values *v)
{
	v->total_vm = BPF_CORE_READ(mm, total_vm);
	v->hiwater_rss = BPF_CORE_READ(mm, hiwater_rss);
	v->data_vm = BPF_CORE_READ(mm, data_vm);
	v->stack_vm = BPF_CORE_READ(mm, stack_vm);
	v->pgtables_bytes = BPF_CORE_READ(mm, pgtables_bytes.counter);

	if (bpf_core_type_exists(struct mm_rss_stat___pre62)) {
		/* up to 6.1 /proc shows exactly these (per-thread caches not included) */
		struct mm_struct___pre62 *old = (void *)mm;

		for (int m = 0; m < PROCSTAT_RSS_NR; m++) {
			long c = BPF_CORE_READ(old, rss_stat.count[m].counter);

			v->rss[m] = c > 0 ? c : 0;
		}
	} else {
		struct rss_sum *sum;
		__u32 zero = 0;

		if (mw_rss_v62((__u64)mm))
			return -1;
		sum = bpf_map_lookup_elem(&rss_scratch, &zero);
		if (!sum)
			return -1;
		for (int m = 0; m < PROCSTAT_RSS_NR; m++)
			v->rss[m] = sum->v[m] > 0 ? sum->v[m] : 0;
	}
	return 0;
}

static __always_inline bool values_equal(const struct procstat_values *a,
					 const struct procstat_values *b)
{
	return a->total_vm == b->total_vm && a->hiwater_rss == b->hiwater_rss &&
	       a->data_vm == b->data_vm && a->stack_vm == b->stack_vm &&
	       a->pgtables_bytes == b->pgtables_bytes && a->rss[0] == b->rss[0] &&
	       a->rss[1] == b->rss[1] && a->rss[2] == b->rss[2] && a->rss[3] == b->rss[3];
}

/* Reads task's process into v. `task` may be a pointer kept from an earlier context switch:
 * every read is a checked one, and the mm is re-read afterwards so that values from an mm
 * being torn down are not used. */
static __always_inline int read_task(struct task_struct *task, __u32 tgid,
				     struct procstat_values *v)
{
	struct mm_struct *mm;

	if (BPF_CORE_READ(task, flags) & (PF_KTHREAD | PF_EXITING))
		return -1;
	mm = BPF_CORE_READ(task, mm);
	if (!mm || read_values(mm, v))
		return -1;
	if (BPF_CORE_READ(task, mm) != mm || BPF_CORE_READ(task, tgid) != tgid)
		return -1;
	return 0;
}

static __always_inline void fill_event(struct procstat_event *ev, struct task_struct *task,
				       __u32 tgid, const struct procstat_values *v, __u64 now)
{
	ev->hdr.type = MW_EVENT_PROCSTAT;
	ev->hdr.size = sizeof(*ev);
	ev->hdr._pad = 0;
	ev->hdr.ts_ns = now;
	ev->tgid = tgid;
	ev->_pad = 0;
	ev->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	BPF_CORE_READ_STR_INTO(&ev->comm, task, group_leader, comm);
	ev->v = *v;
}

/* Reads task's process and emits it if it changed since what was sent. */
static __always_inline void sample(struct task_struct *task, __u32 tgid, struct proc_state *st,
				   bool first, __u64 now)
{
	struct procstat_event *ev;
	struct procstat_values v = {};

	if (read_task(task, tgid, &v))
		return;
	st->last_read_ns = now;
	if (!first && values_equal(&v, &st->sent))
		return;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&events_dropped, 1);
		/* leave `sent` as it was so the next read retries */
		return;
	}
	st->sent = v;
	fill_event(ev, task, tgid, &v, now);
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline void defer(struct proc_state *st, __u32 tgid, __u64 due)
{
	struct deferred_read item = { .tgid = tgid, .due_ns = due };

	if (st->pending)
		return;
	st->pending = 1;
	if (bpf_map_push_elem(&deferred, &item, 0)) {
		st->pending = 0;	/* queue full: the process's next switch retries */
		return;
	}
	if (due < next_flush_ns)
		next_flush_ns = due;
}

/* Deferred reads whose time has come, oldest first. */
static __always_inline void flush(__u64 now)
{
	if (now < next_flush_ns)
		return;
	for (int i = 0; i < FLUSH_BATCH; i++) {
		struct deferred_read item;
		struct proc_state *st;

		if (bpf_map_peek_elem(&deferred, &item)) {
			next_flush_ns = now + min_interval_ns;
			return;
		}
		if (item.due_ns > now) {
			next_flush_ns = item.due_ns;
			return;
		}
		if (bpf_map_pop_elem(&deferred, &item))
			return;
		st = bpf_map_lookup_elem(&procs, &item.tgid);
		if (!st || !st->pending)
			continue;
		st->pending = 0;
		if (st->task)
			sample((struct task_struct *)st->task, item.tgid, st, false, now);
	}
}

static __always_inline int switched_out(struct task_struct *prev)
{
	struct proc_state *st;
	__u64 now = bpf_ktime_get_ns();
	__u32 tgid;
	bool first = false;

	flush(now);
	if (BPF_CORE_READ(prev, flags) & (PF_KTHREAD | PF_EXITING))
		return 0;
	if (!BPF_CORE_READ(prev, mm))
		return 0;
	tgid = BPF_CORE_READ(prev, tgid);
	st = bpf_map_lookup_elem(&procs, &tgid);
	if (!st) {
		struct proc_state fresh = {};

		bpf_map_update_elem(&procs, &tgid, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&procs, &tgid);
		if (!st)
			return 0;
		first = true;
	}
	st->task = (__u64)prev;
	if (!first && now - st->last_read_ns < min_interval_ns) {
		defer(st, tgid, st->last_read_ns + min_interval_ns);
		return 0;
	}
	st->pending = 0;
	sample(prev, tgid, st, first, now);
	return 0;
}

/* A thread leaves: forget it as the group's deferred-read thread; when it is the last one
 * (signal->live reached 0 before this tracepoint), the process is gone. */
static __always_inline int exiting(struct task_struct *task)
{
	struct procstat_exit_event *ev;
	struct proc_state *st;
	__u32 tgid;

	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	st = bpf_map_lookup_elem(&procs, &tgid);
	if (!st)
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) != 0) {
		if (st->task == (__u64)task)
			st->task = 0;
		return 0;
	}
	if (bpf_map_delete_elem(&procs, &tgid))
		return 0;	/* another CPU got there first */
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&events_dropped, 1);
		return 0;
	}
	ev->hdr.type = MW_EVENT_PROCSTAT_EXIT;
	ev->hdr.size = sizeof(*ev);
	ev->hdr._pad = 0;
	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->tgid = tgid;
	ev->_pad = 0;
	ev->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* Strategies, in the order the loader tries them (src/probes/procstat.ts). */

SEC("tp_btf/sched_switch")
int BPF_PROG(procstat_tp_btf_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return switched_out(prev);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(procstat_tp_btf_exit, struct task_struct *p)
{
	return exiting(p);
}

/* Classic tracepoints fire in the task concerned: prev for sched_switch (before the switch),
 * the exiting task for sched_process_exit. */
SEC("tracepoint/sched/sched_switch")
int procstat_tracepoint_switch(void *ctx)
{
	return switched_out((struct task_struct *)bpf_get_current_task());
}

SEC("tracepoint/sched/sched_process_exit")
int procstat_tracepoint_exit(void *ctx)
{
	return exiting((struct task_struct *)bpf_get_current_task());
}

SEC("fentry/finish_task_switch")
int BPF_PROG(procstat_fentry_switch, struct task_struct *prev)
{
	return switched_out(prev);
}

SEC("kprobe/finish_task_switch")
int BPF_KPROBE(procstat_kprobe_switch, struct task_struct *prev)
{
	return switched_out(prev);
}

/* Every change of an mm's RSS counters (5.5+). The owner's own changes are read when it is
 * switched out; changes by another task (reclaim, swap-out, process_madvise) to a process
 * that may sleep on are turned into a deferred read. A raw tracepoint: the same first argument
 * on every kernel, no BTF needed, and none of the classic event's cost (a full per-CPU sum
 * per change since 6.2). */
SEC("raw_tp/rss_stat")
int procstat_rss_stat(struct bpf_raw_tracepoint_args *ctx)
{
	struct mm_struct *mm = (struct mm_struct *)ctx->args[0];
	struct task_struct *owner;
	struct proc_state *st;
	__u32 tgid;

	if (!bpf_core_field_exists(mm->owner))
		return 0;
	if (BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), mm) == mm)
		return 0;
	owner = BPF_CORE_READ(mm, owner);
	if (!owner)
		return 0;
	tgid = BPF_CORE_READ(owner, tgid);
	st = bpf_map_lookup_elem(&procs, &tgid);
	if (!st || !st->task)
		return 0;
	{
		__u64 now = bpf_ktime_get_ns();
		__u64 due = st->last_read_ns + min_interval_ns;

		defer(st, tgid, due > now ? due : now);
	}
	return 0;
}

/* Run once by user space at start: a first record for every process, written to the
 * iterator's output (no ring buffer to overflow), so that processes that sleep throughout
 * are known too. The first thread with an mm speaks for its process (the leader may be gone). */
SEC("iter/task")
int procstat_snapshot(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct procstat_values v = {};
	struct procstat_event ev = {};
	struct proc_state fresh = {};
	__u64 now = bpf_ktime_get_ns();
	__u32 tgid;

	if (!task)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	if (read_task(task, tgid, &v))
		return 0;
	fresh.sent = v;
	fresh.last_read_ns = now;
	fresh.task = (__u64)task;
	if (bpf_map_update_elem(&procs, &tgid, &fresh, BPF_NOEXIST))
		return 0;	/* a context switch got there first and reported it */
	fill_event(&ev, task, tgid, &v, now);
	bpf_seq_write(ctx->meta->seq, &ev, sizeof(ev));
	return 0;
}

/* The per-interval strategy. The iterator visits every thread: a process is read from its group
 * leader, or, when the leader has exited before its threads, from each thread left (the first
 * read is sent; the same values again are not). A process is written to the iterator's output
 * (no ring buffer to overflow) when it is new or any value changed since what was sent. */
SEC("iter/task")
int procstat_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct procstat_event ev = {};
	struct proc_state *st;
	__u64 now;
	__u32 tgid;

	if (!task)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (BPF_CORE_READ(task, pid) != tgid) {
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);

		if (BPF_CORE_READ(leader, mm) && !(BPF_CORE_READ(leader, flags) & PF_EXITING))
			return 0;	/* the leader speaks for the process */
	}
	if (read_task(task, tgid, &ev.v))
		return 0;
	now = bpf_ktime_get_ns();
	st = bpf_map_lookup_elem(&procs, &tgid);
	if (st) {
		if (values_equal(&ev.v, &st->sent))
			return 0;
		st->sent = ev.v;
		st->last_read_ns = now;
	} else {
		struct proc_state fresh = { .sent = ev.v, .last_read_ns = now };

		if (bpf_map_update_elem(&procs, &tgid, &fresh, BPF_NOEXIST))
			return 0;
		/* The exit hook reports only processes it finds in procs, and it looks after the
		 * group's live count reached 0: if that happened since the read, the hook may have
		 * looked before the insert. Then forget the process rather than keep it for good. */
		if (BPF_CORE_READ(task, signal, live.counter) == 0) {
			bpf_map_delete_elem(&procs, &tgid);
			return 0;
		}
	}
	fill_event(&ev, task, tgid, &ev.v, now);
	bpf_seq_write(ctx->meta->seq, &ev, sizeof(ev));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
