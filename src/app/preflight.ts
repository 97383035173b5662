// What must hold before any BPF call: privileges, kernel BTF, and the processes and files the
// user named. Each failure is one line saying what is missing and how to fix it.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import { programImage, resolveProgram } from '../probes/memleak/command.ts';
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

const PF_KTHREAD = 0x00200000;

/** What /proc says about a pid named on the command line: why it cannot be watched, or undefined. */
export function targetProblem(pid: number, procRoot = '/proc'): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
  } catch {
    return `no process ${pid} is running`;
  }
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(open + 1, close);
  const fields = stat.slice(close + 2).split(' '); // fields[0] is field 3 (state), fields[6] field 9 (flags)
  if (fields[0] === 'Z' || fields[0] === 'X') return `process ${pid} (${comm}) has exited`;
  if ((Number(fields[6]) & PF_KTHREAD) !== 0) return `process ${pid} (${comm}) is a kernel thread, with no user-space memory`;
  return undefined;
}

/**
 * Targets named by the user that cannot be watched, caught before any BPF call: one line
 * naming the flag (and its config key) and what to fix. A target that disappears later, during
 * attach, is a per-probe skip at run time instead.
 */
export function checkTargets(config: Config, procRoot = '/proc'): void {
  const m = config.probes.memleak;
  for (const pid of m.pids) {
    const problem = targetProblem(pid, procRoot);
    // With --memleak-kernel the pids only filter kernel allocations: a kernel thread is a fine filter.
    if (problem && !(m.kernel && problem.includes('kernel thread'))) {
      const hint = problem.includes('kernel thread') ? ': memleak traces a process\'s allocator (--memleak-kernel traces kernel allocations)' : ': check the pid';
      throw new EnvironmentError(`-l ${pid} (probes.memleak.pids): ${problem}${hint}`);
    }
  }
  if (config.probes.procstat.enabled) {
    for (const pid of config.probes.procstat.pids) {
      const problem = targetProblem(pid, procRoot);
      if (problem) throw new EnvironmentError(`--pid ${pid} (probes.procstat.pids): ${problem}: check the pid`);
    }
  }
  if (m.command.length > 0) {
    let program: string;
    try {
      program = resolveProgram(m.command[0]!);
    } catch (err) {
      throw new EnvironmentError(`${(err as Error).message} (probes.memleak.command): give a program path or a name in PATH`);
    }
    try {
      programImage(program);
    } catch (err) {
      throw new EnvironmentError(`${(err as Error).message} (probes.memleak.command)`);
    }
  }
  // A path that exists here must be an ELF file; one that does not may be a path inside the
  // target's container, resolved at attach time.
  if (m.lib.includes('/') && existsSync(m.lib) && !isElf(m.lib)) {
    throw new EnvironmentError(`--memleak-lib ${m.lib} (probes.memleak.lib) is not an ELF shared library: give the allocator's .so file, or a library name the process maps (libjemalloc.so.2)`);
  }
}

function isElf(path: string): boolean {
  let fd: number | undefined;
  try {
    if (!statSync(path).isFile()) return false;
    fd = openSync(path, 'r');
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
