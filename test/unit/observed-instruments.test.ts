// Observable instruments report what their callbacks observed at this collection: a series
// that is no longer observed (an exited process) disappears, however many came and went.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeterProvider, MetricReader, DataPointType, type GaugeMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ObservedInstruments } from '../../src/telemetry/observed-instruments.ts';

class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

function setup() {
  const resource = resourceFromAttributes({ 'service.name': 't' });
  const observed = new ObservedInstruments(resource, { name: 'mem-watcher', version: '0' });
  const reader = new TestReader({ metricProducers: [observed] });
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = observed.meter(provider.getMeter('mem-watcher'));
  const collect = async (expectErrors = 0) => {
    const { resourceMetrics, errors } = await reader.collect();
    assert.equal(errors.length, expectErrors, `collection errors: ${errors.join(', ')}`);
    return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
  };
  return { meter, collect };
}

const pidsOf = (m: { dataPoints: Array<{ attributes: Record<string, unknown> }> } | undefined) => m?.dataPoints.map((p) => p.attributes.pid) ?? [];

test('a series not observed any more is not exported any more; one still observed keeps its start time', async () => {
  const { meter, collect } = setup();
  let pids = [1, 2, 3];
  const usage = meter.createObservableUpDownCounter('usage', { unit: 'By', description: 'd' });
  const rss = meter.createObservableGauge('rss', { unit: 'By' });
  meter.addBatchObservableCallback((r) => { for (const p of pids) { r.observe(usage, p * 10, { pid: p }); r.observe(rss, p, { pid: p }); } }, [usage, rss]);
  const first = await collect();
  assert.deepEqual(pidsOf(first.get('usage') as SumMetricData), [1, 2, 3]);
  await new Promise((r) => setTimeout(r, 20));
  pids = [3, 4];
  const second = await collect();
  const u = second.get('usage') as SumMetricData;
  assert.deepEqual(pidsOf(u), [3, 4]);
  assert.deepEqual(pidsOf(second.get('rss') as GaugeMetricData), [3, 4]);
  assert.equal(u.dataPointType, DataPointType.SUM);
  assert.equal(u.isMonotonic, false);
  assert.equal(u.descriptor.unit, 'By');
  assert.equal(u.descriptor.description, 'd');
  const p3 = (first.get('usage') as SumMetricData).dataPoints.find((p) => p.attributes.pid === 3)!;
  assert.deepEqual(u.dataPoints.find((p) => p.attributes.pid === 3)!.startTime, p3.startTime, 'a continuing series keeps its start');
  pids = [];
  assert.equal((await collect()).has('usage'), false, 'nothing observed: no metric');
});

test('observable counters are monotonic sums; single-instrument callbacks work; a throwing callback costs only itself', async () => {
  const { meter, collect } = setup();
  meter.createObservableCounter('events', { unit: '{event}' }).addCallback((r) => r.observe(7, { probe: 'sysstat' }));
  meter.createObservableGauge('broken').addCallback(() => { throw new Error('bug'); });
  const m = (await collect(1)).get('events') as SumMetricData;
  assert.equal(m.isMonotonic, true);
  assert.equal(m.dataPoints[0]!.value, 7);
});

test('10,000 processes over time: no overflow series, and only the live ones are kept', async () => {
  const { meter, collect } = setup();
  let base = 0;
  meter.createObservableGauge('rss').addCallback((r) => { for (let p = base; p < base + 50; p++) r.observe(p, { pid: p }); });
  for (; base < 10_000; base += 50) await collect();
  base = 20_000;
  const last = (await collect()).get('rss') as GaugeMetricData;
  assert.equal(last.dataPoints.length, 50);
  assert.ok(last.dataPoints.every((p) => (p.attributes.pid as number) >= 20_000 && !('otel.metric.overflow' in p.attributes)));
});

test('synchronous instruments stay the SDK\'s', async () => {
  const { meter, collect } = setup();
  meter.createCounter('c').add(2, { a: 'x' });
  meter.createHistogram('h').record(1.5);
  const got = await collect();
  assert.equal((got.get('c') as SumMetricData).dataPoints[0]!.value, 2);
  assert.equal(got.get('h')!.dataPointType, DataPointType.HISTOGRAM);
});
