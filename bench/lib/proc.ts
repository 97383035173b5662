// A process's own cost as the kernel accounts it: CPU time from /proc/PID/stat, memory from
// /proc/PID/status. Sampled before and after a window to give CPU % and RSS over it.
import { readFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ: 100 on every Linux ABI we run on

export interface ProcSample {
  /** utime + stime, seconds (children not included). */
  cpuSeconds: number;
  wallMs: number;
  rssKb: number;
  hwmKb: number;
}

export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: fields start after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { cpuSeconds: (utime + stime) / CLK_TCK, wallMs: performance.now(), rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined; // gone
  }
}

/** CPU used between two samples as a fraction of one core. */
export function cpuFraction(a: ProcSample, b: ProcSample): number {
  return (b.cpuSeconds - a.cpuSeconds) / ((b.wallMs - a.wallMs) / 1000);
}
