// What memleak needs to know about a target process from /proc: is it still the same process,
// its executable's name, and which mapped file holds its allocator (attach-file.ts opens it as
// the process maps it, in a container or deleted on disk).
import { readFileSync, readlinkSync, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { parseMaps, isFileMapping, type Mapping } from '../../symbolize/maps.ts';
import { startTimeFromStat } from '../../telemetry/container.ts';
import { hostFile, mappedFile, type AttachFile } from './attach-file.ts';

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat: tells a reused pid from the process we attached to. */
  startTime: string;
}

/** The process's identity, or undefined when it is gone or a zombie. */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const close = stat.lastIndexOf(')');
  const state = stat.slice(close + 2, close + 3);
  if (state === 'Z' || state === 'X') return undefined;
  const startTime = startTimeFromStat(stat);
  return startTime === undefined ? undefined : { pid, startTime };
}

/** The process is stopped (state T in /proc/PID/stat: SIGSTOP or the like). */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
}

export function isSameProcess(id: ProcessIdentity): boolean {
  return processIdentity(id.pid)?.startTime === id.startTime;
}

/** process.executable.name: the base name of /proc/PID/exe's target, else comm. */
export function executableName(pid: number): string {
  try {
    return basename(readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''));
  } catch {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  }
}

export interface AllocatorFiles {
  /** malloc, free and the rest of the allocator family (prefixed symbols). */
  allocator: AttachFile;
  /** mmap, munmap, mremap: always the C library's, never prefixed. */
  libc: AttachFile;
}

// glibc's libc.so.6 (libc-2.31.so on older distributions); musl's libc is its dynamic linker.
const LIBC = /^(libc\.so(\.\d+)*|libc-[\d.]+\.so|ld-musl-[^/]*\.so(\.\d+)*|libc\.musl-[^/]*\.so(\.\d+)*)$/;

function mappedFiles(pid: number): Mapping[] {
  // Deleted ones too: a library upgraded on disk is still the code the process runs
  // (attach-file.ts reaches it through /proc/PID/map_files).
  return parseMaps(readFileSync(`/proc/${pid}/maps`, 'latin1')).filter((m) => isFileMapping(m) && m.perms.includes('x'));
}

/**
 * The files to attach to in process `pid`. `lib` (--memleak-lib) is a path or a file name the
 * process maps (libjemalloc.so.2), or a path on this host; without it, the libc it maps; a
 * static executable (no libc mapped) is its own allocator.
 */
export function allocatorFiles(pid: number, lib = ''): AllocatorFiles {
  let mapped: Mapping[];
  try {
    mapped = mappedFiles(pid);
  } catch (err) {
    throw new Error(`cannot read /proc/${pid}/maps: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such process' : (err as Error).message}`);
  }
  const libcMap = mapped.find((m) => LIBC.test(basename(m.path)));
  let exe: string | undefined;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch { /* kernel thread or gone */ }
  const exeMap = exe === undefined ? undefined : mapped.find((m) => m.path === exe);
  const libcOrExe = libcMap ?? exeMap;
  const libc = libcOrExe ? mappedFile(pid, libcOrExe) : undefined;
  if (!libc) throw new Error(`process ${pid} maps no C library and has no executable to attach to`);
  if (lib === '') return { allocator: libc, libc };

  const byMap = mapped.find((m) => m.path === lib || basename(m.path) === lib || basename(m.path).startsWith(lib));
  if (byMap) return { allocator: mappedFile(pid, byMap), libc };
  if (lib.startsWith('/') && existsSync(lib)) return { allocator: hostFile(lib), libc };
  throw new Error(`--memleak-lib ${lib}: process ${pid} does not map it and no such file exists here`);
}
