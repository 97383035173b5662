// What must hold before any BPF call: privileges, kernel BTF, and the processes and files the
// user named. Each failure is one line saying what is missing and how to fix it.
import { EnvironmentError } from '../errors.ts';
import { CAP, effectiveCapabilities, hasCap } from '../host/capabilities.ts';
import type { KernelInfo } from '../host/kernel.ts';
import { enabledProbes, type Config } from './config.ts';

export function preflight(kernel: KernelInfo, caps = effectiveCapabilities()): void {
  const bpfOk = hasCap(caps, CAP.SYS_ADMIN) || (hasCap(caps, CAP.BPF) && hasCap(caps, CAP.PERFMON));
  if (!bpfOk) {
    throw new EnvironmentError('root or the capabilities CAP_BPF and CAP_PERFMON are needed to load the probes: run mem-watcher as root (sudo) or grant them (e.g. setcap or the container\'s cap_add)');
  }
  if (!kernel.btf) {
    throw new EnvironmentError(`kernel ${kernel.release} has no BTF (/sys/kernel/btf/vmlinux is missing): boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (every major distribution's kernel since 2021 has it)`);
  }
}

/**
 * Targets named by the user that cannot be watched, caught before any BPF call: each enabled
 * probe checks its own (pids, files) and says in one line what to fix. A target that disappears
 * later, during attach, is a per-probe skip at run time instead.
 */
export function checkTargets(config: Config): void {
  for (const p of enabledProbes(config)) {
    const check = (p as { check?(c: unknown): void }).check;
    check?.((config.probes as Record<string, unknown>)[p.name]);
  }
}
