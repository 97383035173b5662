// procstat as OTel metrics: at each collection, the latest values of the top N processes by
// RSS plus the selected ones; a process that exited (or is no longer selected) has no data
// point. Every data point names its process and, when it is in one, its container.
import { existsSync } from 'node:fs';
import type { Attributes, BatchObservableResult, Observable } from '@opentelemetry/api';
import type { RecordExporter } from '../../runtime/exporter.ts';
import { processAttributes } from '../../telemetry/attributes.ts';
import type { ExportContext } from '../../telemetry/export-context.ts';
import { ATTR, METRIC, UNIT } from '../../telemetry/semconv.ts';
import type { ProcstatConfig } from './config.ts';
import { ProcessTable, selectionFromConfig, type ProcessMemory, type ProcessSelection, type ProcstatRecord, type ProcstatSample } from './definition.ts';

const RSS_KINDS: ReadonlyArray<[string, keyof ProcessMemory]> = [
  ['anon', 'rssAnon'],
  ['file', 'rssFile'],
  ['shmem', 'rssShmem'],
];

// Sizes add up (over processes, over kinds): UpDownCounters. The peak is a watermark: a gauge.
const SIZES: ReadonlyArray<[string, keyof ProcessMemory, string]> = [
  [METRIC.PROCESS_SWAP, 'vmSwap', 'Swapped-out anonymous memory (VmSwap)'],
  [METRIC.PROCESS_DATA, 'vmData', 'Size of private writable mappings: heap and data (VmData)'],
  [METRIC.PROCESS_STACK, 'vmStk', 'Size of the main thread\'s stack mapping (VmStk)'],
  [METRIC.PROCESS_PAGE_TABLES, 'vmPte', 'Memory taken by the process\'s page tables (VmPTE)'],
];

export interface ProcstatMetricsOptions {
  /** Who is observed (default: from the config). */
  selection?: ProcessSelection;
  /** Is the process still there (default: /proc/PID exists): drops one whose exit record was lost. */
  alive?: (pid: number) => boolean;
}

export function procstatMetrics(ctx: ExportContext<ProcstatConfig>, opts: ProcstatMetricsOptions = {}): RecordExporter<ProcstatRecord> {
  const selection = opts.selection ?? selectionFromConfig(ctx.config);
  const alive = opts.alive ?? ((pid: number) => existsSync(`/proc/${pid}`));
  const table = new ProcessTable();
  // Attributes per process incarnation; rebuilt each collection so exited ones are forgotten.
  let described = new Map<string, Attributes>();

  const attributesOf = (s: ProcstatSample, next: Map<string, Attributes>): Attributes => {
    const key = `${s.pid}:${s.startNs}:${s.comm}`; // comm changes on exec
    let attrs = described.get(key);
    // process.executable.name is the comm the kernel sent, as ps shows it: no /proc lookup.
    attrs ??= processAttributes(s.pid, s.comm, s.container ?? {});
    next.set(key, attrs);
    return attrs;
  };

  const observed = (): ProcstatSample[] => {
    let chosen = table.select(selection);
    const gone = chosen.filter((s) => !alive(s.pid));
    if (gone.length > 0) {
      for (const s of gone) table.forget(s.pid);
      chosen = table.select(selection);
    }
    return chosen;
  };

  const m = ctx.meter;
  const usage = m.createObservableUpDownCounter(METRIC.PROCESS_MEMORY_USAGE, { unit: UNIT.BYTES, description: 'Resident set size: anonymous, file-backed and shared memory in RAM (VmRSS)' });
  const virt = m.createObservableUpDownCounter(METRIC.PROCESS_MEMORY_VIRTUAL, { unit: UNIT.BYTES, description: 'Size of the address space (VmSize)' });
  const rss = m.createObservableUpDownCounter(METRIC.PROCESS_RSS, { unit: UNIT.BYTES, description: 'Resident set size by kind: anon, file, shmem (RssAnon, RssFile, RssShmem)' });
  const peak = m.createObservableGauge(METRIC.PROCESS_PEAK_RSS, { unit: UNIT.BYTES, description: 'Peak resident set size (VmHWM)' });
  const sizes = SIZES.map(([name, field, description]) => [m.createObservableUpDownCounter(name, { unit: UNIT.BYTES, description }), field] as const);
  const all: Observable[] = [usage, virt, rss, peak, ...sizes.map(([g]) => g)];

  m.addBatchObservableCallback((r: BatchObservableResult) => {
    const next = new Map<string, Attributes>();
    for (const s of observed()) {
      const attrs = attributesOf(s, next);
      r.observe(usage, s.memory.rss, attrs);
      r.observe(virt, s.memory.vmSize, attrs);
      for (const [kind, field] of RSS_KINDS) r.observe(rss, s.memory[field], { ...attrs, [ATTR.RSS_KIND]: kind });
      r.observe(peak, s.memory.vmHwm, attrs);
      for (const [g, field] of sizes) r.observe(g, s.memory[field], attrs);
    }
    described = next;
  }, all);

  return { onRecord: (rec) => table.apply(rec) };
}
