// mem-watcher's own health: which probes attached with which strategy, and how many records
// each delivered or lost.
import type { Meter } from '@opentelemetry/api';
import type { ProbeStatus } from '../runtime/runtime.ts';
import { ATTR, METRIC, UNIT } from './semconv.ts';

export interface SelfTelemetrySource {
  status: readonly ProbeStatus[];
  counters(): Map<string, { received: number; dropped: number }>;
}

export function selfMetrics(meter: Meter, source: SelfTelemetrySource): void {
  meter.createObservableCounter(METRIC.EVENTS_RECEIVED, { unit: UNIT.EVENTS, description: 'Records received from the kernel side, per probe' })
    .addCallback((r) => { for (const [probe, c] of source.counters()) r.observe(c.received, { [ATTR.PROBE]: probe }); });
  meter.createObservableCounter(METRIC.EVENTS_DROPPED, { unit: UNIT.EVENTS, description: 'Records lost (ring buffer full, undecodable), per probe' })
    .addCallback((r) => { for (const [probe, c] of source.counters()) r.observe(c.dropped, { [ATTR.PROBE]: probe }); });
  meter.createObservableGauge(METRIC.PROBE_ATTACHED, { unit: UNIT.PROBES, description: '1 for each probe attached, with the strategy the kernel allowed; 0 for a skipped probe' })
    .addCallback((r) => {
      for (const s of source.status) {
        r.observe(s.strategy ? 1 : 0, { [ATTR.PROBE]: s.probe, [ATTR.PROBE_STRATEGY]: s.strategy ?? 'none' });
      }
    });
}
