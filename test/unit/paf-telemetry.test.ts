// paf's exporters on records: the failure counter by order and GFP names, zone gauges from the
// latest snapshot (populated zones only), reclaim retries, one span per failure with the zone,
// process and stack attributes, rate-limited with the excess counted; and the -a console rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { pafConsole } from '../../src/probes/paf/console.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/log.ts';
import type { PafFailure, PafRecord, ZoneState } from '../../src/probes/paf/definition.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import { pafMetrics, pafSpans, SpanRateLimiter } from '../../src/probes/paf/telemetry.ts';
import { monotonicToWall } from '../../src/host/clock.ts';

class CollectingReader extends MetricReader {
  protected onShutdown(): Promise<void> { return Promise.resolve(); }
  protected onForceFlush(): Promise<void> { return Promise.resolve(); }
}

const zone = (index: number, name: string, v: Partial<ZoneState> = {}): ZoneState => ({
  node: 0, index, name, min: 10, low: 12, high: 14, boost: 0, free: 100, managed: 200, present: 300, spanned: 400, ...v,
});
const ZONES = [
  zone(0, 'DMA', { min: 1, low: 2, high: 3, free: 3808, managed: 3840, present: 3998 }),
  zone(1, 'DMA32', { min: 11086, low: 13857, high: 16628, free: 1234, managed: 241529, present: 258016 }),
  zone(2, 'Normal', { min: 0, low: 0, high: 0, free: 0, managed: 0, present: 0 }),
  zone(3, 'Movable', { min: 32, low: 32, high: 32, free: 0, managed: 0, present: 0 }),
];

function failure(v: Partial<PafFailure> = {}): PafFailure {
  return {
    kind: 'failure', tsNs: 1_000_000n, order: 9, gfp: 0x346cca,
    gfpNames: 'GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL|__GFP_COMP|__GFP_THISNODE',
    migratetype: 1, migratetypeName: 'Movable', tid: 4242, comm: 'bash', pid: 4240, processName: 'bash',
    container: {}, source: 'tracepoint', node: 0, zones: ZONES, zone: ZONES[1], stackId: 3,
    stack: [{ address: 0xffffffff81003000n, symbol: '__alloc_pages+0x1a5' }, { address: 0xffffffff81200000n, symbol: 'alloc_fresh_hugetlb_folio+0x3b' }],
    ...v,
  };
}

const { config } = loadConfig({ env: {} });
const kernel = readKernelInfo();

async function collect(feed: (h: (r: PafRecord) => void) => void): Promise<Map<string, MetricData>> {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  const handle = pafMetrics({ meter: provider.getMeter('test'), config: config.probes.paf, log: silentLogger, kernel });
  feed((r) => handle.onRecord(r));
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
}

test('metrics: failures counted by order and decoded GFP names, from the exact in-kernel counts', async () => {
  const m = await collect((h) => {
    h({ kind: 'counts', entries: [{ order: 9, gfp: 0x346cca, gfpNames: 'A|B', count: 3 }, { order: 0, gfp: 0xcc0, gfpNames: 'GFP_KERNEL', count: 1 }] });
    h({ kind: 'counts', entries: [{ order: 9, gfp: 0x346cca, gfpNames: 'A|B', count: 2 }] });
    h(failure()); // a failure record is detail, not a count: counting it too would double
  });
  const f = m.get('memwatcher.page_alloc.failures')!;
  assert.equal(f.descriptor.unit, '{failure}');
  const byKey = Object.fromEntries(f.dataPoints.map((p) => [`${p.attributes['memwatcher.alloc.order']}/${p.attributes['memwatcher.alloc.gfp']}`, p.value]));
  assert.deepEqual(byKey, { '9/A|B': 5, '0/GFP_KERNEL': 1 });
});

test('metrics: zone watermarks and pages of the latest snapshot, populated zones only', async () => {
  const newer = ZONES.map((z) => (z.name === 'DMA32' ? { ...z, free: 999 } : z));
  const m = await collect((h) => {
    h({ kind: 'zones', tsNs: 5n, node: 0, zones: newer });
    h(failure({ tsNs: 4n })); // older than the snapshot: does not roll the gauges back
  });
  const wm = m.get('memwatcher.zone.watermark')!;
  assert.equal(wm.descriptor.unit, '{page}');
  const w = Object.fromEntries(wm.dataPoints.map((p) => [`${p.attributes['memwatcher.numa.node']}/${p.attributes['memwatcher.zone.name']}/${p.attributes['memwatcher.zone.watermark.level']}`, p.value]));
  assert.deepEqual(w, { '0/DMA/min': 1, '0/DMA/low': 2, '0/DMA/high': 3, '0/DMA32/min': 11086, '0/DMA32/low': 13857, '0/DMA32/high': 16628 });
  const pages = Object.fromEntries(m.get('memwatcher.zone.pages')!.dataPoints.map((p) => [`${p.attributes['memwatcher.zone.name']}/${p.attributes['memwatcher.zone.page.state']}`, p.value]));
  assert.deepEqual(pages, {
    'DMA/free': 3808, 'DMA/managed': 3840, 'DMA/present': 3998,
    'DMA32/free': 999, 'DMA32/managed': 241529, 'DMA32/present': 258016,
  });
});

test('metrics: reclaim retries per node, zone and order', async () => {
  const m = await collect((h) => {
    const e = { node: 0, zoneIndex: 1, zoneName: 'DMA32', order: 9, count: 10, reclaimable: 5, available: 6, minWmark: 7, noProgressLoops: 1, wmarkCheck: false };
    h({ kind: 'retries', entries: [e] });
    h({ kind: 'retries', entries: [{ ...e, count: 6 }, { ...e, zoneIndex: 7, zoneName: undefined, count: 1 }] });
  });
  const r = m.get('memwatcher.page_alloc.reclaim_retries')!;
  const points = Object.fromEntries(r.dataPoints.map((p) => [`${p.attributes['memwatcher.numa.node']}/${p.attributes['memwatcher.zone.name']}/${p.attributes['memwatcher.alloc.order']}`, p.value]));
  assert.deepEqual(points, { '0/DMA32/9': 16, '0/7/9': 1 });
});

async function spans(limit: number, records: Array<[number, PafRecord]>) {
  const exporter = new InMemorySpanExporter();
  const tp = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new CollectingReader();
  const mp = new MeterProvider({ readers: [reader] });
  const cfg = loadConfig({ env: { MEMWATCHER_PROBES_PAF_SPAN_RATE_LIMIT: String(limit) } }).config;
  let now = 0;
  const h = pafSpans({ meter: mp.getMeter('t'), tracer: tp.getTracer('t'), config: cfg.probes.paf, log: silentLogger, kernel }, { now: () => now });
  for (const [t, r] of records) {
    now = t;
    h.onRecord(r);
  }
  const { resourceMetrics } = await reader.collect();
  const dropped = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'memwatcher.page_alloc.spans_dropped');
  const out = { finished: exporter.getFinishedSpans(), dropped: dropped?.dataPoints[0]?.value ?? 0 };
  await tp.shutdown();
  await mp.shutdown();
  return out;
}

test('spans: one page_alloc.failure per failure with zone, process, GFP and stack attributes', async () => {
  const { finished, dropped } = await spans(10, [[0, failure({ container: { containerId: 'c0ffee' } })], [0, { kind: 'counts', entries: [] }]]);
  assert.equal(dropped, 0);
  assert.equal(finished.length, 1);
  const s = finished[0]!;
  assert.equal(s.name, 'page_alloc.failure');
  assert.deepEqual(s.attributes, {
    'memwatcher.alloc.order': 9,
    'memwatcher.alloc.gfp': 'GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL|__GFP_COMP|__GFP_THISNODE',
    'memwatcher.alloc.gfp_mask': '0x346cca',
    'memwatcher.alloc.migratetype': 'Movable',
    'memwatcher.numa.node': 0,
    'memwatcher.zone.name': 'DMA32',
    'memwatcher.zone.watermark.min': 11086,
    'memwatcher.zone.watermark.low': 13857,
    'memwatcher.zone.watermark.high': 16628,
    'memwatcher.zone.watermark.boost': 0,
    'memwatcher.zone.pages.free': 1234,
    'memwatcher.zone.pages.managed': 241529,
    'memwatcher.zone.pages.present': 258016,
    'process.pid': 4240,
    'process.executable.name': 'bash',
    'thread.id': 4242,
    'thread.name': 'bash',
    'container.id': 'c0ffee',
    'code.stacktrace': '__alloc_pages+0x1a5\nalloc_fresh_hugetlb_folio+0x3b',
  });
});

test('spans: at most span_rate_limit a second, the rest counted in spans_dropped', async () => {
  const burst: Array<[number, PafRecord]> = [];
  for (let i = 0; i < 25; i++) burst.push([i, failure()]); // 25 within 25 ms
  burst.push([1500, failure()], [1500, failure()]); // 1.5 s later: the bucket refilled
  const { finished, dropped } = await spans(10, burst);
  assert.equal(finished.length, 12);
  assert.equal(dropped, 15);
  const none = await spans(0, [[0, failure()], [5000, failure()]]);
  assert.equal(none.finished.length, 0);
  assert.equal(none.dropped, 2);
});

test('rate limiter: refills at the configured rate, never above the burst', () => {
  let t = 0;
  const l = new SpanRateLimiter(2, () => t);
  assert.deepEqual([l.take(), l.take(), l.take()], [true, true, false]);
  t = 499;
  assert.equal(l.take(), false);
  t = 500;
  assert.equal(l.take(), true);
  t = 100_000;
  assert.deepEqual([l.take(), l.take(), l.take()], [true, true, false]);
});

test('span time: the kernel\'s monotonic timestamp on the wall clock', () => {
  const nowMono = process.hrtime.bigint();
  const [s, ns] = monotonicToWall(nowMono - 2_000_000_000n);
  const ms = s * 1000 + ns / 1e6;
  assert.ok(Math.abs(ms - (Date.now() - 2000)) < 50, `${ms} vs ${Date.now() - 2000}`);
});

test('console: one row per failure, the target zone\'s MIN LOW HIGH PRESENT, FLAG, ORDER, ZONE, GFP', () => {
  const lines: string[] = [];
  const c = pafConsole((l) => lines.push(l), '');
  c.start!();
  c.onRecord({ kind: 'zones', tsNs: 1n, node: 0, zones: ZONES });
  c.onRecord({ kind: 'counts', entries: [] });
  c.onRecord(failure());
  c.onRecord(failure({ zone: undefined, zones: [], gfp: 0xcc0, gfpNames: 'GFP_KERNEL', order: 3 }));
  assert.equal(lines.length, 3);
  assert.deepEqual(lines[0]!.trim().split(/\s+/), ['MIN', 'LOW', 'HIGH', 'PRESENT', 'FLAG', 'ORDER', 'ZONE', 'GFP']);
  assert.deepEqual(lines[1]!.trim().split(/\s+/), ['11086', '13857', '16628', '258016', '0x346cca', '9', 'DMA32', 'GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL|__GFP_COMP|__GFP_THISNODE']);
  assert.deepEqual(lines[2]!.trim().split(/\s+/), ['-', '-', '-', '-', '0xcc0', '3', '-', 'GFP_KERNEL']);
});

test('console: the node is named with the zone on NUMA machines', () => {
  const lines: string[] = [];
  const c = pafConsole((l) => lines.push(l), 'paf      ', { kernel: { ...kernel, numaNodes: [0, 1] } });
  c.onRecord(failure({ zone: { ...ZONES[1]!, node: 1 } }));
  assert.ok(lines.every((l) => l.startsWith('paf      ')));
  assert.equal(lines.at(-1)!.trim().split(/\s+/)[7], '1:DMA32');
});
