// paf as OpenTelemetry: failure and reclaim-retry counters, zone watermark and page gauges (the
// latest snapshot per node, live without failures), and one `page_alloc.failure` span per
// failure, rate-limited by probes.paf.span_rate_limit.
import { SpanKind, type Attributes } from '@opentelemetry/api';
import { monotonicToWall } from '../../host/clock.ts';
import type { RecordExporter } from '../../runtime/exporter.ts';
import { containerAttributes } from '../../telemetry/attributes.ts';
import type { ExportContext } from '../../telemetry/export-context.ts';
import { ATTR, METRIC, SPAN, UNIT } from '../../telemetry/semconv.ts';
import type { PafConfig } from './config.ts';
import type { PafFailure, PafRecord, ZoneState } from './definition.ts';

function zoneAttributes(z: ZoneState): Attributes {
  return { [ATTR.NUMA_NODE]: z.node, [ATTR.ZONE_NAME]: z.name };
}

export function pafMetrics(ctx: ExportContext): RecordExporter<PafRecord> {
  const latest = new Map<number, { tsNs: bigint; zones: ZoneState[] }>();
  // Zones without pages (an empty Movable or Device zone) are left out: /proc/zoneinfo lists
  // them but their watermarks mean nothing.
  const populated = () => [...latest.values()].flatMap((s) => s.zones.filter((z) => z.present > 0));

  const failures = ctx.meter.createCounter(METRIC.PAGE_ALLOC_FAILURES, {
    unit: UNIT.FAILURES,
    description: 'Page allocations that failed after the allocator\'s slow path (kmem:mm_page_alloc without a page), by order and GFP flags',
  });
  const retries = ctx.meter.createCounter(METRIC.PAGE_ALLOC_RETRIES, {
    unit: UNIT.RETRIES,
    description: 'Slow-path reclaim retry checks of the allocator (oom:reclaim_retry_zone), per zone and order',
  });
  ctx.meter.createObservableGauge(METRIC.ZONE_WATERMARK, {
    unit: UNIT.PAGES,
    description: 'Zone watermarks as /proc/zoneinfo shows them (boost included): under low kswapd wakes, under min only privileged allocations succeed',
  }).addCallback((r) => {
    for (const z of populated()) {
      for (const level of ['min', 'low', 'high'] as const) r.observe(z[level], { ...zoneAttributes(z), [ATTR.ZONE_WATERMARK_LEVEL]: level });
    }
  });
  ctx.meter.createObservableGauge(METRIC.ZONE_PAGES, {
    unit: UNIT.PAGES,
    description: 'Zone pages: free, managed by the buddy allocator, and present (physical pages in the zone)',
  }).addCallback((r) => {
    for (const z of populated()) {
      for (const state of ['free', 'managed', 'present'] as const) r.observe(z[state], { ...zoneAttributes(z), [ATTR.ZONE_PAGE_STATE]: state });
    }
  });

  const onRecord = (rec: PafRecord) => {
    switch (rec.kind) {
      case 'zones':
      case 'failure': {
        const prev = latest.get(rec.node);
        if (rec.zones.length && (!prev || prev.tsNs <= rec.tsNs)) latest.set(rec.node, { tsNs: rec.tsNs, zones: rec.zones });
        break;
      }
      case 'counts':
        for (const e of rec.entries) failures.add(e.count, { [ATTR.ALLOC_ORDER]: e.order, [ATTR.ALLOC_GFP]: e.gfpNames });
        break;
      case 'retries':
        for (const e of rec.entries) {
          retries.add(e.count, { [ATTR.NUMA_NODE]: e.node, [ATTR.ZONE_NAME]: e.zoneName ?? String(e.zoneIndex), [ATTR.ALLOC_ORDER]: e.order });
        }
        break;
    }
  };
  return { onRecord };
}

/** Token bucket: up to `perSecond` spans in any burst, refilled at `perSecond` a second; 0 lets none through. */
export class SpanRateLimiter {
  readonly #rate: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(perSecond: number, now: () => number = () => performance.now()) {
    this.#rate = perSecond;
    this.#now = now;
    this.#tokens = perSecond;
    this.#last = now();
  }

  take(): boolean {
    const t = this.#now();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((t - this.#last) / 1000) * this.#rate);
    this.#last = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export function failureAttributes(rec: PafFailure): Attributes {
  const a: Attributes = {
    [ATTR.ALLOC_ORDER]: rec.order,
    [ATTR.ALLOC_GFP]: rec.gfpNames,
    [ATTR.ALLOC_GFP_MASK]: `0x${rec.gfp.toString(16)}`,
    [ATTR.NUMA_NODE]: rec.node,
    [ATTR.PROCESS_PID]: rec.pid,
    [ATTR.PROCESS_EXECUTABLE_NAME]: rec.processName,
    [ATTR.THREAD_ID]: rec.tid,
    [ATTR.THREAD_NAME]: rec.comm,
    ...containerAttributes(rec.container),
  };
  if (rec.migratetypeName !== undefined) a[ATTR.ALLOC_MIGRATETYPE] = rec.migratetypeName;
  const z = rec.zone;
  if (z) {
    a[ATTR.ZONE_NAME] = z.name;
    a[ATTR.ZONE_WATERMARK_MIN] = z.min;
    a[ATTR.ZONE_WATERMARK_LOW] = z.low;
    a[ATTR.ZONE_WATERMARK_HIGH] = z.high;
    a[ATTR.ZONE_WATERMARK_BOOST] = z.boost;
    a[ATTR.ZONE_PAGES_FREE] = z.free;
    a[ATTR.ZONE_PAGES_MANAGED] = z.managed;
    a[ATTR.ZONE_PAGES_PRESENT] = z.present;
  }
  if (rec.stack.length) a[ATTR.CODE_STACKTRACE] = rec.stack.map((f) => f.symbol).join('\n');
  return a;
}

export function pafSpans(ctx: ExportContext<PafConfig>, opts: { now?: () => number } = {}): RecordExporter<PafRecord> {
  const tracer = ctx.tracer;
  const limit = ctx.config.span_rate_limit;
  const dropped = ctx.meter.createCounter(METRIC.PAGE_ALLOC_SPANS_DROPPED, {
    unit: UNIT.SPANS,
    description: `page_alloc.failure spans not sent because more than probes.paf.span_rate_limit (${limit}) came in a second`,
  });
  const limiter = new SpanRateLimiter(limit, opts.now);
  const onRecord = (rec: PafRecord) => {
    if (!tracer || rec.kind !== 'failure') return;
    if (!limiter.take()) {
      dropped.add(1);
      return;
    }
    const t = monotonicToWall(rec.tsNs);
    tracer.startSpan(SPAN.PAGE_ALLOC_FAILURE, { kind: SpanKind.INTERNAL, startTime: t, attributes: failureAttributes(rec) }).end(t);
  };
  return { onRecord };
}
