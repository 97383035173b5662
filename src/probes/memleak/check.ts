// What must hold before any BPF call for what the user named: the pids, the command and the
// allocator library. Each failure is one line naming the flag, its config key and the fix.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { EnvironmentError } from '../../errors.ts';
import { targetProblem } from '../../host/proc.ts';
import { programImage, resolveProgram } from './command.ts';
import type { MemleakConfig } from './config.ts';

export function checkMemleakTargets(m: MemleakConfig, procRoot = '/proc'): void {
  for (const pid of m.pids) {
    const problem = targetProblem(pid, procRoot);
    // With --memleak-kernel the pids only filter kernel allocations: a kernel thread is a fine filter.
    if (problem && !(m.kernel && problem.includes('kernel thread'))) {
      const hint = problem.includes('kernel thread') ? ': memleak traces a process\'s allocator (--memleak-kernel traces kernel allocations)' : ': check the pid';
      throw new EnvironmentError(`-l ${pid} (probes.memleak.pids): ${problem}${hint}`);
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
