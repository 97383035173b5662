// The -r table: the seed's columns, in kB as /proc/PID/status shows them; one row per change
// of a process in the selection: the processes named by --pid/--comm when there are any, else
// the current top N by RSS (printing every process's every change would flood the terminal).
import { ProcessTable, type ProcessMemory, type ProcessSelection, type ProcstatRecord, type ProcstatSample } from '../probes/procstat.ts';
import { createTable, type Column } from './table.ts';
import type { ConsoleBinding } from './sink.ts';

const COLUMNS: ReadonlyArray<[string, keyof ProcessMemory]> = [
  ['VMSIZE', 'vmSize'],
  ['VMDATA', 'vmData'],
  ['VMSTK', 'vmStk'],
  ['VMPTE', 'vmPte'],
  ['VMSWAP', 'vmSwap'],
  ['RSSANON', 'rssAnon'],
  ['RSSFILE', 'rssFile'],
  ['RSSSHMEM', 'rssShmem'],
];

export const PROCSTAT_HEADER = ['TIME', 'PID', ...COLUMNS.map(([t]) => t)];

/** HH:MM:SS, local time. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** A row's cells: the time, the pid, then kB (as the kernel prints them: bytes >> 10). */
export function procstatRow(s: ProcstatSample, wallMs: number): Array<string | number> {
  return [clockTime(wallMs), s.pid, ...COLUMNS.map(([, field]) => Math.floor(s.memory[field] / 1024))];
}

/** Wall-clock milliseconds of a bpf_ktime_get_ns() stamp (both clocks are CLOCK_MONOTONIC). */
export function monotonicToWallMs(tsNs: bigint, nowWallMs = Date.now(), nowMonoNs = process.hrtime.bigint()): number {
  return nowWallMs - Number(nowMonoNs - tsNs) / 1e6;
}

export function procstatConsole(write: (line: string) => void, prefix: string, selection: ProcessSelection): ConsoleBinding<ProcstatRecord> {
  const table = createTable(PROCSTAT_HEADER.map((title, i): Column => ({ title, width: i < 2 ? 8 : 9 })), write, prefix);
  const processes = new ProcessTable();
  const filtered = selection.pids.length > 0 || selection.comms.length > 0;
  let pending: ProcstatSample[] = [];
  return {
    start: () => table.header(),
    onRecord(rec) {
      processes.apply(rec);
      if (rec.kind === 'sample') pending.push(rec);
    },
    afterPoll() {
      if (pending.length === 0) return;
      const shown = new Set((filtered ? processes.filtered(selection) : processes.top(selection.top)).map((s) => s.pid));
      for (const s of pending) {
        // A row only for the process as it still is (not one replaced by a reused pid).
        if (shown.has(s.pid) && processes.get(s.pid)?.startNs === s.startNs) table.row(procstatRow(s, monotonicToWallMs(s.tsNs)));
      }
      pending = [];
    },
  };
}
