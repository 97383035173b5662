// SPDX-License-Identifier: GPL-2.0
/* Load generator for the ring-buffer drain benchmark: every getppid() of one process (the
 * producer in bench/) emits records_per_trigger records. Reserve failures are counted here,
 * so losses are known exactly and compared with what user space received. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bench_drain.h"

const volatile __u32 target_tgid = 0;
const volatile __u32 records_per_trigger = 1;
/* Discard every Nth record instead of submitting it (0: never): tests the reader's skipping. */
const volatile __u32 discard_every = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);	/* resized by the loader */
} events SEC(".maps");

/* One producer thread fires the trigger, so plain increments suffice (and older clang
 * targets cannot use the value of an atomic add). */
__u64 events_offered;
__u64 events_dropped;
__u64 events_discarded;

SEC("tp/syscalls/sys_enter_getppid")
int bench_drain_emit(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 n = records_per_trigger;
	__u64 now = bpf_ktime_get_ns();

	if (tgid != target_tgid)
		return 0;
	for (__u32 i = 0; i < BENCH_DRAIN_MAX_BATCH; i++) {
		struct bench_drain_event *e;
		__u64 seq;

		if (i >= n)
			break;
		seq = events_offered++;
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			events_dropped++;
			continue;
		}
		e->hdr.type = MW_EVENT_BENCH_DRAIN;
		e->hdr.size = sizeof(*e);
		e->hdr._pad = 0;
		e->hdr.ts_ns = now;
		e->seq = seq;
		e->tgid = tgid;
		e->index = i;
		e->value = seq * 3;
		if (discard_every && seq % discard_every == discard_every - 1) {
			events_discarded++;
			bpf_ringbuf_discard(e, 0);
		} else {
			bpf_ringbuf_submit(e, 0);
		}
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
