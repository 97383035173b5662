// What /proc says about one process: its stat fields, identity (pid + start time, so a reused
// pid is told apart), names. Each reader returns undefined for a process that is gone or not
// ours to read, never throws.
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

export interface ProcStat {
  comm: string;
  /** Field 3: R, S, D, Z, X... */
  state: string;
  /** Field 9: PF_* flags. */
  flags: number;
  /** Field 22: start time in clock ticks since boot. */
  startTime: string;
}

/** Parses the text of /proc/PID/stat (comm may itself hold spaces and parentheses). */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' '); // rest[0] is field 3
  const startTime = rest[19];
  if (rest[0] === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { comm: text.slice(open + 1, close), state: rest[0], flags: Number(rest[6]), startTime };
}

/** Field 22 of a stat text (start time in clock ticks since boot), or undefined. */
export function startTimeFromStat(text: string): string | undefined {
  return parseStat(text)?.startTime;
}

export function readStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`${procRoot}/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat: tells a reused pid from the process first seen. */
  startTime: string;
}

/** The process's identity, or undefined when it is gone or a zombie. */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  const st = readStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return undefined;
  return { pid, startTime: st.startTime };
}

export function isSameProcess(id: ProcessIdentity): boolean {
  return processIdentity(id.pid)?.startTime === id.startTime;
}

/** /proc/PID/comm: the name `ps` and `top` show (15 characters at most). */
export function processComm(pid: number, procRoot = '/proc'): string | undefined {
  try {
    return readFileSync(`${procRoot}/${pid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return undefined;
  }
}

/** The executable's path as the process sees it, without the ` (deleted)` suffix. */
export function executablePath(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

const PF_KTHREAD = 0x00200000;

/** Why a pid named by the user cannot be watched (gone, a zombie, a kernel thread), or undefined. */
export function targetProblem(pid: number, procRoot = '/proc'): string | undefined {
  const st = readStat(pid, procRoot);
  if (!st) return `no process ${pid} is running`;
  if (st.state === 'Z' || st.state === 'X') return `process ${pid} (${st.comm}) has exited`;
  if ((st.flags & PF_KTHREAD) !== 0) return `process ${pid} (${st.comm}) is a kernel thread, with no user-space memory`;
  return undefined;
}

/** TASK_COMM_LEN - 1: the kernel keeps this many characters of a process's name. */
const COMM_MAX = 15;

/**
 * The name users know a process by: its comm, which ps and top show (redis-server, whose
 * executable is a symlink to redis-check-rdb); the executable's base name when comm is that
 * name cut at 15 characters.
 */
export function processName(pid: number): string {
  const comm = processComm(pid) ?? '';
  const exe = executablePath(pid);
  const base = exe === undefined ? '' : basename(exe);
  if (comm === '' || (comm.length === COMM_MAX && base.startsWith(comm))) return base;
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

/** The process is stopped (state T: SIGSTOP or the like). */
export function isStopped(pid: number): boolean {
  return readStat(pid)?.state === 'T';
}
