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
