/* Programs run by mem-watcher's self-trigger (src/runtime/self-trigger.ts): a uprobe on a libbpf
 * function that mem-watcher calls once per interval. The uprobe is attached for every process:
 * one attached for a single pid is a per-task perf event, and while any per-task perf event
 * exists the kernel runs perf's scheduler hooks on every context switch of the host. Another
 * process that maps libbpf and calls that function (another mem-watcher) must not sample for
 * us, hence this test: the caller is our process, as our own pid namespace numbers it. */
#ifndef MEMWATCHER_SELF_TRIGGER_BPF_H
#define MEMWATCHER_SELF_TRIGGER_BPF_H

#include <bpf/bpf_helpers.h>

/* Set before load (selfTriggerRodata() in src/runtime/self-trigger.ts). */
const volatile __u64 self_pidns_dev = 0;
const volatile __u64 self_pidns_ino = 0;
const volatile __u32 self_tgid = 0;

static __always_inline bool mw_self_triggered(void)
{
	struct bpf_pidns_info ns = {};

	if (bpf_get_ns_current_pid_tgid(self_pidns_dev, self_pidns_ino, &ns, sizeof(ns)))
		return false;	/* another pid namespace than ours */
	return ns.tgid == self_tgid;
}

#endif
