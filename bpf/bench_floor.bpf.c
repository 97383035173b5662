// SPDX-License-Identifier: GPL-2.0
/* The floor of the overhead benchmark: a program that does nothing, on the hook paf cannot do
 * without (kmem:mm_page_alloc fires on every page allocation; only there is a failure seen).
 * What it costs the page-fault storm is what any program there costs on this machine. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/mm_page_alloc")
int BPF_PROG(bench_floor_page_alloc, struct page *page, unsigned int order, gfp_t gfp_flags,
	     int migratetype)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
