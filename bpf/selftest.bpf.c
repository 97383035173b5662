// SPDX-License-Identifier: GPL-2.0
/* Not a probe: a small object exercising what src/libbpf wraps (tunables, hash and per-CPU
 * maps, globals, a ring buffer), loaded by test/kernel/libbpf.test.ts. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.h"

const volatile __u32 target_tgid = 0;
const volatile __u64 magic = 0;

__u64 hits;
__u64 events_dropped;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct selftest_event {
	struct mw_event_header hdr;
	__u64 magic;
	__u32 tgid;
	__u32 _pad;
};

/* getppid(2) from the test process is the trigger (raw_syscalls: syscall tracepoints are
 * often compiled out). */
SEC("tracepoint/raw_syscalls/sys_enter")
int selftest_getppid(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	struct selftest_event *e;
	__u64 *v;

	if (tgid != target_tgid || ctx->id != 110 /* x86_64 __NR_getppid */)
		return 0;
	__sync_fetch_and_add(&hits, 1);
	v = bpf_map_lookup_elem(&percpu, &zero);
	if (v)
		*v += 1;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&events_dropped, 1);
		return 0;
	}
	e->hdr.type = 99;
	e->hdr.size = sizeof(*e);
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->magic = magic;
	e->tgid = tgid;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/no_such_category/no_such_event")
int selftest_missing(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
