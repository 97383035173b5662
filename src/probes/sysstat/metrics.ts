// sysstat as OTel metrics: the latest record per NUMA node, observed at each collection, and the
// host-wide system.memory.* of the semantic conventions from /proc/meminfo. Amounts that add up
// (over nodes, lists, states) are UpDownCounters; only utilization, a ratio, is a gauge.
import type { Attributes, ObservableResult } from '@opentelemetry/api';
import { readSystemMemory, type SystemMemory } from '../../host/meminfo.ts';
import type { RecordExporter } from '../../runtime/exporter.ts';
import type { ExportContext } from '../../telemetry/export-context.ts';
import { ATTR, METRIC, UNIT } from '../../telemetry/semconv.ts';
import type { SysstatField, SysstatRecord } from './definition.ts';

const LRU_LISTS: ReadonlyArray<[SysstatField, string]> = [
  ['active_anon', 'active_anon'],
  ['inactive_anon', 'inactive_anon'],
  ['active_file', 'active_file'],
  ['inactive_file', 'inactive_file'],
  ['unevictable', 'unevictable'],
];

const SINGLE: ReadonlyArray<[string, SysstatField, string]> = [
  [METRIC.SYSTEM_DIRTY, 'dirty', 'Page cache waiting to be written back (Dirty)'],
  [METRIC.SYSTEM_WRITEBACK, 'writeback', 'Memory being written back (Writeback)'],
  [METRIC.SYSTEM_WRITEBACK_TMP, 'writeback_tmp', 'FUSE writeback temporary buffers (WritebackTmp)'],
  [METRIC.SYSTEM_ANON, 'anon_pages', 'Anonymous pages mapped into user page tables (AnonPages)'],
  [METRIC.SYSTEM_MAPPED, 'mapped', 'Files mapped into memory (Mapped)'],
  [METRIC.SYSTEM_KERNEL_RECLAIMABLE, 'kreclaimable', 'Kernel allocations the kernel can reclaim (KReclaimable)'],
  [METRIC.SYSTEM_ANON_THP, 'anon_huge_pages', 'Anonymous transparent huge pages (AnonHugePages)'],
  [METRIC.SYSTEM_SHMEM_THP, 'shmem_huge_pages', 'Shared memory in transparent huge pages (ShmemHugePages)'],
  [METRIC.SYSTEM_NFS_UNSTABLE, 'nfs_unstable', 'NFS pages sent but not yet committed (NFS_Unstable; kernels before 5.9)'],
];

export interface SysstatMetricsOptions {
  /** Host-wide memory accounting (default: /proc/meminfo, read at each collection). */
  systemMemory?: () => SystemMemory | undefined;
}

export function sysstatMetrics(ctx: ExportContext, opts: SysstatMetricsOptions = {}): RecordExporter<SysstatRecord> {
  const readSystem = opts.systemMemory ?? (() => readSystemMemory());
  const latest = new Map<number, SysstatRecord>();
  const each = (fn: (rec: SysstatRecord, node: Attributes) => void) => {
    for (const rec of latest.values()) fn(rec, { [ATTR.NUMA_NODE]: rec.node });
  };
  const observe = (r: ObservableResult, v: number | undefined, attrs: Attributes) => {
    if (v !== undefined) r.observe(v, attrs);
  };

  ctx.meter.createObservableUpDownCounter(METRIC.SYSTEM_LRU, { unit: UNIT.BYTES, description: 'Memory on each LRU list, per NUMA node' })
    .addCallback((r) => each((rec, node) => {
      for (const [field, list] of LRU_LISTS) observe(r, rec.bytes[field], { ...node, [ATTR.LRU_LIST]: list });
    }));
  for (const [name, field, description] of SINGLE) {
    ctx.meter.createObservableUpDownCounter(name, { unit: UNIT.BYTES, description: `${description}, per NUMA node` })
      .addCallback((r) => each((rec, node) => observe(r, rec.bytes[field], node)));
  }
  ctx.meter.createObservableUpDownCounter(METRIC.SYSTEM_SHARED, { unit: UNIT.BYTES, description: 'Shared memory (tmpfs, shm) (Shmem), per NUMA node' })
    .addCallback((r) => each((rec, node) => observe(r, rec.bytes.shmem, node)));
  ctx.meter.createObservableUpDownCounter(METRIC.SYSTEM_SLAB, { unit: UNIT.BYTES, description: 'Slab memory by reclaimability (SReclaimable, SUnreclaim), per NUMA node' })
    .addCallback((r) => each((rec, node) => {
      observe(r, rec.bytes.sreclaimable, { ...node, [ATTR.SLAB_STATE]: 'reclaimable' });
      observe(r, rec.bytes.sunreclaim, { ...node, [ATTR.SLAB_STATE]: 'unreclaimable' });
    }));

  const m = ctx.meter;
  const usage = m.createObservableUpDownCounter(METRIC.SYSTEM_MEMORY_USAGE, { unit: UNIT.BYTES, description: 'Memory by state: used, free, cached (Cached), buffers (Buffers); the states add up to MemTotal' });
  const utilization = m.createObservableGauge(METRIC.SYSTEM_MEMORY_UTILIZATION, { unit: UNIT.RATIO, description: 'Share of MemTotal in each state: used, free, cached, buffers' });
  const limit = m.createObservableUpDownCounter(METRIC.SYSTEM_MEMORY_LIMIT, { unit: UNIT.BYTES, description: 'Usable memory, what the states add up to (MemTotal)' });
  const available = m.createObservableUpDownCounter(METRIC.SYSTEM_MEMORY_AVAILABLE, { unit: UNIT.BYTES, description: 'Memory available for new work without swapping, reclaimable caches counted (MemAvailable)' });
  m.addBatchObservableCallback((r) => {
    const sys = readSystem();
    if (!sys) return;
    r.observe(limit, sys.total);
    if (sys.available !== undefined) r.observe(available, sys.available);
    for (const [state, bytes] of Object.entries(sys.states)) {
      r.observe(usage, bytes, { [ATTR.SYSTEM_MEMORY_STATE]: state });
      if (sys.total > 0) r.observe(utilization, bytes / sys.total, { [ATTR.SYSTEM_MEMORY_STATE]: state });
    }
  }, [usage, utilization, limit, available]);

  return { onRecord: (rec) => latest.set(rec.node, rec) };
}
