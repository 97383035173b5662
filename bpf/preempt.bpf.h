/* SPDX-License-Identifier: GPL-2.0 */
#ifndef MW_PREEMPT_BPF_H
#define MW_PREEMPT_BPF_H
/* after vmlinux.h, bpf_helpers.h and bpf_tracing.h */

/*
 * Preemptible probes. On PREEMPT_LAZY and PREEMPT_RT kernels a kprobe-type program (uprobes
 * included) can be preempted, and since 6.14 one on a syscall tracepoint too; since 6.13 its
 * frame may sit on a per-CPU private stack, so two programs preempted on one CPU overwrite each
 * other's locals (seen on Debian's 7.2: one thread's malloc size recorded for another's).
 * MW_KPROBE/MW_KRETPROBE are BPF_KPROBE/BPF_KRETPROBE, and MW_PROG any other program, with
 * preemption held off around the body where the kernel has the kfuncs (6.10+) and user space
 * sets preempt_guard; elsewhere the calls are dead code (libbpf leaves missing kfuncs
 * unresolved).
 */
extern void bpf_preempt_disable(void) __weak __ksym;
extern void bpf_preempt_enable(void) __weak __ksym;

/* Set by user space where the verifier takes the guard around the unwinder's global
 * subprograms (6.12's refuses a global call with preemption off; 6.18's and 7.2's take it):
 * false leaves the calls as dead code the verifier never walks. */
const volatile bool preempt_guard = false;

#define MW_PREEMPT_OFF() do { if (preempt_guard && bpf_preempt_disable) bpf_preempt_disable(); } while (0)
#define MW_PREEMPT_ON() do { if (preempt_guard && bpf_preempt_enable) bpf_preempt_enable(); } while (0)

#define MW_PREEMPT_WRAPPED(name, args_fn, args...)				    \
name(struct pt_regs *ctx);							    \
static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args);	    \
typeof(name(0)) name(struct pt_regs *ctx)					    \
{										    \
	typeof(name(0)) __ret;							    \
	MW_PREEMPT_OFF();							    \
	_Pragma("GCC diagnostic push")						    \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")			    \
	__ret = ____##name(args_fn(args));					    \
	_Pragma("GCC diagnostic pop")						    \
	MW_PREEMPT_ON();							    \
	return __ret;								    \
}										    \
static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args)

/* A program of another type, its context named ctx: MW_PROG(name, struct x *ctx) { ... } */
#define MW_PROG(name, ctx_decl)							    \
int name(ctx_decl);								    \
static __always_inline int ____##name(ctx_decl);				    \
int name(ctx_decl)								    \
{										    \
	int __ret;								    \
	MW_PREEMPT_OFF();							    \
	__ret = ____##name(ctx);						    \
	MW_PREEMPT_ON();							    \
	return __ret;								    \
}										    \
static __always_inline int ____##name(ctx_decl)

#define MW_KPROBE(name, args...) MW_PREEMPT_WRAPPED(name, ___bpf_kprobe_args, ##args)
#define MW_KRETPROBE(name, args...) MW_PREEMPT_WRAPPED(name, ___bpf_kretprobe_args, ##args)

#endif
