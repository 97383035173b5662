// pr as OTel metrics: per-source counters observed from the kernel's cumulative totals, and
// each direct or memcg reclaim call recorded into the stall duration histogram.
import type { ObservableResult } from '@opentelemetry/api';
import type { RecordExporter } from '../../runtime/exporter.ts';
import type { ExportContext } from '../../telemetry/export-context.ts';
import { ATTR, METRIC, UNIT } from '../../telemetry/semconv.ts';
import { PR_SOURCES, type PrCounters, type PrRecord, type PrTotalsRecord } from './definition.ts';

/** Seconds: reclaim stalls run from tens of microseconds (one batch) to seconds (thrashing). */
export const STALL_BUCKETS_S: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const PER_PASS: ReadonlyArray<[string, keyof PrCounters, string]> = [
  [METRIC.RECLAIM_SCANNED, 'scanned', 'Pages scanned on the inactive LRU lists by reclaim'],
  [METRIC.RECLAIM_RECLAIMED, 'reclaimed', 'Pages reclaimed from the inactive LRU lists'],
  [METRIC.RECLAIM_DIRTY, 'unqueuedDirty', 'Dirty pages met by reclaim that were not queued for writeback (unqueued dirty)'],
  [METRIC.RECLAIM_CONGESTED, 'congested', 'Pages met by reclaim under writeback to a congested device'],
  [METRIC.RECLAIM_WRITEBACK, 'writeback', 'Pages met by reclaim under writeback'],
  [METRIC.RECLAIM_IMMEDIATE, 'immediate', 'Pages under writeback already marked for immediate reclaim (reclaim outpaces the device)'],
  [METRIC.RECLAIM_ACTIVATED, 'activated', 'Pages reclaim moved back to the active lists'],
];

export function prMetrics(ctx: ExportContext): RecordExporter<PrRecord> {
  let latest: PrTotalsRecord | undefined;
  const observe = (r: ObservableResult, field: keyof PrCounters, sources: readonly string[] = PR_SOURCES) => {
    if (!latest) return;
    for (const source of PR_SOURCES) {
      const v = latest.sources[source][field];
      if (v !== undefined && sources.includes(source)) r.observe(v, { [ATTR.RECLAIM_SOURCE]: source });
    }
  };

  for (const [name, field, description] of PER_PASS) {
    ctx.meter.createObservableCounter(name, { unit: UNIT.PAGES, description: `${description}, by reclaim source` })
      .addCallback((r) => observe(r, field));
  }
  ctx.meter.createObservableCounter(METRIC.RECLAIM_STALL_RECLAIMED, {
    unit: UNIT.PAGES,
    description: 'Pages direct and memcg reclaim calls reported reclaimed at their end (LRU and slab; seen also where MGLRU hides the passes)',
  }).addCallback((r) => observe(r, 'callReclaimed', ['direct', 'memcg']));

  const stalls = ctx.meter.createHistogram(METRIC.RECLAIM_STALL, {
    unit: UNIT.SECONDS,
    description: 'Time a task spent in one direct or memcg reclaim call, begin to end',
    advice: { explicitBucketBoundaries: [...STALL_BUCKETS_S] },
  });

  return {
    onRecord(rec) {
      if (rec.kind === 'totals') latest = rec;
      else stalls.record(rec.durationNs / 1e9, { [ATTR.RECLAIM_SOURCE]: rec.source });
    },
  };
}
