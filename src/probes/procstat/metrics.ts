// procstat as OTel metrics: at each collection, the latest values of the top N processes by
// RSS plus the selected ones; a process that exited (or is no longer selected) has no data
// point. Every data point names its process and, when it is in one, its container.
import { existsSync } from 'node:fs';
import type { Attributes, BatchObservableResult, Observable } from '@opentelemetry/api';
import { readContainerOf, type ContainerInfo } from '../../host/container.ts';
import { executableName } from '../../host/proc.ts';
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

const GAUGES: ReadonlyArray<[string, keyof ProcessMemory, string]> = [
  [METRIC.PROCESS_PEAK_RSS, 'vmHwm', 'Peak resident set size (VmHWM)'],
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
  /** Names and containers of processes (default: /proc). */
  describe?: (s: ProcstatSample) => { executable: string; container: ContainerInfo };
}

export function procstatMetrics(ctx: ExportContext<ProcstatConfig>, opts: ProcstatMetricsOptions = {}): RecordExporter<ProcstatRecord> {
  const selection = opts.selection ?? selectionFromConfig(ctx.config);
  const alive = opts.alive ?? ((pid: number) => existsSync(`/proc/${pid}`));
  const describe = opts.describe ?? ((s: ProcstatSample) => ({
    executable: executableName(s.pid, s.comm),
    container: readContainerOf(s.pid, s.startNs),
  }));
  const table = new ProcessTable();
  // Attributes per process incarnation; rebuilt each collection so exited ones are forgotten.
  let described = new Map<string, Attributes>();

  const attributesOf = (s: ProcstatSample, next: Map<string, Attributes>): Attributes => {
    const key = `${s.pid}:${s.startNs}:${s.comm}`; // comm changes on exec, and so may the exe
    let attrs = described.get(key);
    if (!attrs) {
      const d = describe(s);
      attrs = processAttributes(s.pid, d.executable, d.container);
    }
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
  const rss = m.createObservableGauge(METRIC.PROCESS_RSS, { unit: UNIT.BYTES, description: 'Resident set size by kind: anon, file, shmem (RssAnon, RssFile, RssShmem)' });
  const gauges = GAUGES.map(([name, field, description]) => [m.createObservableGauge(name, { unit: UNIT.BYTES, description }), field] as const);
  const all: Observable[] = [usage, virt, rss, ...gauges.map(([g]) => g)];

  m.addBatchObservableCallback((r: BatchObservableResult) => {
    const next = new Map<string, Attributes>();
    for (const s of observed()) {
      const attrs = attributesOf(s, next);
      r.observe(usage, s.memory.rss, attrs);
      r.observe(virt, s.memory.vmSize, attrs);
      for (const [kind, field] of RSS_KINDS) r.observe(rss, s.memory[field], { ...attrs, [ATTR.RSS_KIND]: kind });
      for (const [g, field] of gauges) r.observe(g, s.memory[field], attrs);
    }
    described = next;
  }, all);

  return { onRecord: (rec) => table.apply(rec) };
}
