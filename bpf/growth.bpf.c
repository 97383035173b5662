// SPDX-License-Identifier: GPL-2.0
/* growth: which code makes each process's memory grow, from tracepoints only (no uprobe, so
 * nothing traps on malloc or free).
 *
 * The kernel sees a process grow when its allocator asks for memory (brk up, an anonymous
 * private mmap, mremap up) and when it faults in a page it does not own yet (its own fault
 * or the kernel's on its behalf, sampled one in `fault_sample`). Each time, the bytes are charged to (process, user
 * stack), the stack walked from the task's saved user registers by the CFI unwinder
 * (bpf/unwind.bpf.h) into user_stacks. Counters only grow; user space diffs them per interval.
 * Steady alloc/free churn reuses memory the process already has, so it is rarely seen. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "growth.h"
#include "preempt.bpf.h"
#include "unwind.bpf.h"

#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20
#define PROT_NONE 0
/* x86 page fault error code bits */
#define PF_PROT 1	/* the page was present */
#define PF_WRITE 2
#define PF_INSTR 16
#define USER_SPACE_END 0x00007ffffffff000ULL	/* x86-64 TASK_SIZE with 4-level paging */

const volatile __u64 page_size = 4096;
const volatile __u32 fault_sample = 32;	/* one user fault in N is charged, as N pages */
const volatile __u64 thread_size = 16384;	/* x86-64 kernel stack: pt_regs sit at its top */
const volatile bool filter = false;	/* only processes in `pids` or named in `comms` */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);	/* probes.growth.max_stacks */
	__type(key, struct growth_key);
	__type(value, struct growth_val);
} growth SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);	/* probes.growth.max_processes */
	__type(key, __u32);
	__type(value, struct growth_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* tgid */
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GROWTH_MAX_COMMS);
	__type(key, char[16]);
	__type(value, __u8);
} comms SEC(".maps");

/* Per thread between a syscall's entry and exit: the old brk, or an anonymous mmap's length. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);	/* pid_tgid */
	__type(value, __u64);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fault_count SEC(".maps");

__u64 stack_failures = 0;

/* Kernel threads (and a task past exit_mm) have no user memory to grow. */
static __always_inline bool current_has_mm(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, mm) != NULL;
}

static __always_inline bool traced(__u32 tgid)
{
	char comm[16] = {};

	if (!filter)
		return true;
	if (bpf_map_lookup_elem(&pids, &tgid))
		return true;
	bpf_get_current_comm(comm, sizeof(comm));
	return bpf_map_lookup_elem(&comms, comm) != NULL;
}

static __always_inline struct growth_proc *proc_of(__u32 tgid)
{
	struct growth_proc zero = {}, *p;

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		return p;
	bpf_map_update_elem(&procs, &tgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&procs, &tgid);
}

/* `pc_adjust` 1 at a fault: the walker looks rows up at pc - 1 (a return address), and the
 * faulting instruction has not run, so its own row is the one in force. */
static __always_inline void charge(__u32 tgid, __u64 bytes, bool fault, __u64 pc_adjust)
{
	struct growth_key key = { .tgid = tgid, .stack_id = GROWTH_STACK_LOST };
	struct growth_val zero = {}, *v;
	struct growth_proc *p;
	struct pt_regs *uregs;
	__u64 ip;
	struct task_struct *task;
	bool truncated = false;
	long id;

	if (!bytes)
		return;
	p = proc_of(tgid);
	if (!p)
		return;
	/* The user registers the kernel saved on entry, at the top of the task's kernel stack
	 * (task_pt_regs; bpf_task_pt_regs is 5.15+). */
	task = (struct task_struct *)bpf_get_current_task();
	uregs = (struct pt_regs *)((__u64)BPF_CORE_READ(task, stack) + thread_size) - 1;
	ip = PT_REGS_IP_CORE(uregs);
	if (ip) {
		id = unwind_user_stack(tgid, ip + pc_adjust, PT_REGS_SP_CORE(uregs), PT_REGS_FP_CORE(uregs));
		if (id >= 0) {
			key.stack_id = (__u32)id;
			truncated = (id & UNWIND_TRUNCATED) != 0;
		} else {
			__sync_fetch_and_add(&stack_failures, 1);
		}
	}
	v = bpf_map_lookup_elem(&growth, &key);
	if (!v) {
		bpf_map_update_elem(&growth, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&growth, &key);
		if (!v) {
			__sync_fetch_and_add(&p->dropped, bytes);
			return;
		}
	}
	if (fault)
		__sync_fetch_and_add(&v->faulted, bytes);
	else
		__sync_fetch_and_add(&v->mapped, bytes);
	__sync_fetch_and_add(&v->events, 1);
	if (truncated)
		__sync_fetch_and_add(&v->truncated, 1);
	__sync_fetch_and_add(&p->grown, bytes);
}

static __always_inline void release(__u32 tgid, __u64 bytes)
{
	struct growth_proc *p;

	if (!bytes)
		return;
	p = proc_of(tgid);
	if (p)
		__sync_fetch_and_add(&p->unmapped, bytes);
}

SEC("tracepoint/syscalls/sys_enter_brk")
MW_PROG(growth_brk_enter, struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), old;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!traced(id >> 32))
		return 0;
	old = BPF_CORE_READ(task, mm, brk);
	bpf_map_update_elem(&inflight, &id, &old, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_brk")
MW_PROG(growth_brk_exit, struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), *old, now = (__u64)ctx->ret, before;

	old = bpf_map_lookup_elem(&inflight, &id);
	if (!old)
		return 0;
	before = *old;
	bpf_map_delete_elem(&inflight, &id);
	if (now > before)
		charge(id >> 32, now - before, false, 0);
	else if (now < before)
		release(id >> 32, before - now);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mmap")
MW_PROG(growth_mmap_enter, struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), len = ctx->args[1];
	__u64 prot = ctx->args[2], flags = ctx->args[3];

	/* Anonymous private memory only; PROT_NONE is a reservation (glibc's arenas, thread
	 * stacks' guards), not growth until mprotect and the first write, which the faults see. */
	if (!(flags & MAP_ANONYMOUS) || !(flags & MAP_PRIVATE) || (flags & MAP_SHARED) || prot == PROT_NONE)
		return 0;
	if (!traced(id >> 32))
		return 0;
	bpf_map_update_elem(&inflight, &id, &len, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
MW_PROG(growth_mmap_exit, struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), *len, bytes;

	len = bpf_map_lookup_elem(&inflight, &id);
	if (!len)
		return 0;
	bytes = *len;
	bpf_map_delete_elem(&inflight, &id);
	if ((__u64)ctx->ret >= (__u64)-4095)	/* an errno: nothing mapped */
		return 0;
	charge(id >> 32, (bytes + page_size - 1) & ~(page_size - 1), false, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mremap")
MW_PROG(growth_mremap_enter, struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 old_len = ctx->args[1], new_len = ctx->args[2];

	if (!traced(tgid))
		return 0;
	if (new_len > old_len)
		charge(tgid, new_len - old_len, false, 0);
	else
		release(tgid, old_len - new_len);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_munmap")
MW_PROG(growth_munmap_enter, struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!traced(tgid))
		return 0;
	release(tgid, ctx->args[1]);
	return 0;
}

/* exceptions:page_fault_user (x86): not in every vmlinux.h, so its layout from the format file */
struct growth_page_fault {
	struct trace_entry ent;
	unsigned long address;
	unsigned long ip;
	unsigned long error_code;
};

static __always_inline int on_fault(struct growth_page_fault *ctx, __u64 pc_adjust)
{
	__u32 zero = 0, *n, tgid;

	/* A page the process is about to own: any fault on an absent page but an instruction
	 * fetch (code: file pages), and a write to a present one (copy-on-write; the zero page a
	 * read of fresh anonymous memory mapped). Measured on redis filling up: absent-page reads
	 * are a tenth of its anonymous RSS growth, each a new page (none was followed by a write
	 * fault). A zero-page read then written counts twice; a COW copy after fork counts, new
	 * memory for the host though the process's RSS does not move. */
	if ((ctx->error_code & PF_INSTR) || ((ctx->error_code & PF_PROT) && !(ctx->error_code & PF_WRITE)))
		return 0;
	/* Filtered first: the sample period then counts only the traced processes' faults. */
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!traced(tgid))
		return 0;
	n = bpf_map_lookup_elem(&fault_count, &zero);
	if (!n)
		return 0;
	if (++*n < fault_sample)
		return 0;
	*n = 0;
	charge(tgid, (__u64)fault_sample * page_size, true, pc_adjust);
	return 0;
}

SEC("tracepoint/exceptions/page_fault_user")
MW_PROG(growth_fault, struct growth_page_fault *ctx)
{
	return on_fault(ctx, 1);
}

/* The kernel writing user memory for the process (read() into a fresh buffer, a socket's data
 * copied out): the fault is the kernel's, the memory the process's. Its user registers are
 * those of the syscall, so the stack is the call that asked for the copy. */
SEC("tracepoint/exceptions/page_fault_kernel")
MW_PROG(growth_fault_kernel, struct growth_page_fault *ctx)
{
	if (ctx->address >= USER_SPACE_END || !current_has_mm())
		return 0;
	return on_fault(ctx, 0);
}

char LICENSE[] SEC("license") = "GPL";
