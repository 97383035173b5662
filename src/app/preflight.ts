// What must hold before any BPF call: privileges and kernel BTF. Each failure is one line
// saying what is missing and how to fix it.
import { readFileSync } from 'node:fs';
import type { KernelInfo } from '../runtime/kernel.ts';

export class EnvironmentError extends Error {}

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export function effectiveCapabilities(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt('0x' + m[1]) : 0n;
}

export function hasCap(caps: bigint, cap: bigint): boolean {
  return (caps & (1n << cap)) !== 0n;
}

export function preflight(kernel: KernelInfo, caps = effectiveCapabilities()): void {
  const bpfOk = hasCap(caps, CAP_SYS_ADMIN) || (hasCap(caps, CAP_BPF) && hasCap(caps, CAP_PERFMON));
  if (!bpfOk) {
    throw new EnvironmentError('root or the capabilities CAP_BPF and CAP_PERFMON are needed to load the probes: run mem-watcher as root (sudo) or grant them (e.g. setcap or the container\'s cap_add)');
  }
  if (!kernel.btf) {
    throw new EnvironmentError(`kernel ${kernel.release} has no BTF (/sys/kernel/btf/vmlinux is missing): boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (every major distribution's kernel since 2021 has it)`);
  }
}
