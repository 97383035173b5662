// What memleak needs to know about a target process from /proc: is it still the same process,
// and its executable's name (allocator.ts finds where its allocator is).
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { startTimeFromStat } from '../../telemetry/container.ts';

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

export function isSameProcess(id: ProcessIdentity): boolean {
  return processIdentity(id.pid)?.startTime === id.startTime;
}

/** TASK_COMM_LEN - 1: the kernel keeps this many characters of a process's name. */
const COMM_MAX = 15;

/**
 * process.executable.name, as users know the process: its comm, which ps and top show
 * (redis-server, whose executable is a symlink to redis-check-rdb); the executable's base name
 * when comm is that name cut at 15 characters.
 */
export function executableName(pid: number): string {
  let comm = '';
  try {
    comm = readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
  } catch { /* gone */ }
  let exe = '';
  try {
    exe = basename(readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''));
  } catch { /* kernel thread or gone */ }
  if (comm === '' || (comm.length === COMM_MAX && exe.startsWith(comm))) return exe;
  return comm;
}

/** A bound far above any useful command line (ARG_MAX is 2 MiB or more). */
const CMDLINE_READ_MAX = 65536;

/** process.command_line: /proc/PID/cmdline, arguments joined by spaces; '' when unreadable. */
export function commandLine(pid: number): string {
  let buf: Buffer;
  try {
    buf = readFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return '';
  }
  // A process that rewrote its arguments (redis-server's "*:6379") may pad them with NULs.
  return buf.subarray(0, CMDLINE_READ_MAX).toString('utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
}
