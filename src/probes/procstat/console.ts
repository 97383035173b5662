// The -r table: the original tool's columns, in kB as /proc/PID/status shows them; one row per change
// of a process in the selection: the processes named by --pid/--comm when there are any, else
// the current top N by RSS (printing every process's every change would flood the terminal).
import { monotonicToWallMs } from '../../host/clock.ts';
import { createTable, type Column } from '../../console/table.ts';
import type { RecordExporter } from '../../runtime/exporter.ts';
import { ProcessTable, type ProcessMemory, type ProcessSelection, type ProcstatRecord, type ProcstatSample } from './definition.ts';

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

export function procstatConsole(write: (line: string) => void, prefix: string, selection: ProcessSelection): RecordExporter<ProcstatRecord> {
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
