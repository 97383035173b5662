#!/usr/bin/env bash
# Test driver run inside a kernel-matrix guest (test/kernels/run with no
# command).  It runs with the host's userland on the guest's kernel, as root,
# in the project root (writable overlay, discarded after the run).
#
# Output is line-oriented so that a matrix over kernels can be grepped:
#   kernel: ...                 facts about the guest kernel
#   MATRIX/HOOKS/RESULT/KTEST   the probe matrix (test/kernels/matrix.ts)
# and, for a failing test, the tail of node's test output.  Extra arguments go
# to matrix.ts (e.g. --probe sysstat).
set -uo pipefail

KERNEL=${MEMWATCHER_GUEST_KERNEL:-$(uname -r)}
status=0

yesno() { if "$@" 2>/dev/null; then echo yes; else echo no; fi; }

kernel_facts() {
	echo "kernel: $KERNEL release=$(uname -r) pkg=${MEMWATCHER_GUEST_KERNEL_PKG:-?}"
	echo "kernel: kprobes=$(yesno test -e /sys/kernel/tracing/kprobe_events)" \
		"btf=$(yesno test -e /sys/kernel/btf/vmlinux)" \
		"cgroup=${MEMWATCHER_GUEST_CGROUP:-?}" \
		"memcg_v1=$(yesno test -e /sys/fs/cgroup/memory/memory.usage_in_bytes)" \
		"mglru=$(cat /sys/kernel/mm/lru_gen/enabled 2>/dev/null || echo absent)"
}

# The probe × strategy matrix (test/kernels/matrix.ts): every registered probe with every
# strategy it declares, attach first (unavailable: the kernel lacks the hook), then the
# probe's own test/kernel/<probe>*.test.ts with the strategy forced, one line each:
#   RESULT kernel=K [variant=mglru] probe=P strategy=S pass|fail|unavailable|not-implemented[: why]
# Kernel tests that belong to no probe (libbpf, ...) run once (KTEST lines); pr runs again with
# MGLRU switched on where the kernel has it.
kernel_facts
node test/kernels/matrix.ts --other-tests --mglru "$@" || status=1
exit "$status"
