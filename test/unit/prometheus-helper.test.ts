// Proves the Prometheus test helper is real: a Debian `prometheus` scrapes the OpenTelemetry
// PrometheusExporter, and PromQL sees the series under the names the exporter really produces.
//
// Naming rule observed (exporter-prometheus 0.301 scraped by Prometheus 2.42): dots become
// underscores in metric and label names; the unit is NOT appended as a suffix (it only appears
// in a `# UNIT` comment), whatever it is ('By', '{page}', 's'); monotonic counters get `_total`
// (once: a name already ending in `_total` keeps it); up-down counters and gauges get nothing;
// histograms give `_bucket`/`_sum`/`_count`. Every series also carries otel_scope_name and
// otel_scope_version, plus Prometheus' own job and instance.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { freePort, startPrometheus } from '../helpers/prometheus.ts';

test('startPrometheus names the apt package when the binary is missing', async () => {
  await assert.rejects(
    startPrometheus({ targets: ['127.0.0.1:1'], binary: '/nonexistent/prometheus' }),
    /^Error: prometheus is not installed: run `apt-get install prometheus`/,
  );
});

test('a real Prometheus scrapes the OpenTelemetry PrometheusExporter', { timeout: 30_000 }, async (t) => {
  const exporterPort = await freePort();
  const exporter = new PrometheusExporter({ host: '127.0.0.1', port: exporterPort });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'mem-watcher-test' }),
    readers: [exporter],
  });
  t.after(() => provider.shutdown());
  const meter = provider.getMeter('memwatcher', '0.1.0');

  const lru = meter.createGauge('memwatcher.system.memory.lru', { unit: 'By', description: 'bytes on each LRU list' });
  lru.record(1_048_576, { 'memwatcher.lru.list': 'active_file' });
  lru.record(2_097_152, { 'memwatcher.lru.list': 'inactive_file' });
  meter.createGauge('memwatcher.system.memory.dirty', { unit: '{page}' }).record(12);
  meter.createGauge('memwatcher.system.memory.stall', { unit: 's' }).record(0.25);
  meter.createCounter('memwatcher.system.memory.refaults', { unit: '{page}' }).add(42);
  meter.createCounter('memwatcher.system.memory.reclaimed', { unit: 'By' }).add(4096);
  meter.createUpDownCounter('memwatcher.system.memory.mapped', { unit: 'By' }).add(8192);
  meter.createHistogram('memwatcher.system.memory.alloc_latency', { unit: 's', advice: { explicitBucketBoundaries: [0.001, 0.01] } })
    .record(0.005);

  const prom = await startPrometheus({ targets: [`127.0.0.1:${exporterPort}`], scrapeIntervalSeconds: 1 });
  t.after(async () => {
    await prom.stop();
    assert.equal(existsSync(prom.dir), false, 'stop() removes the temp dir');
  });

  const started = Date.now();
  const series = await prom.waitForSeries('memwatcher_system_memory_lru', 25_000);
  t.diagnostic(`first sample queryable after ${Date.now() - started} ms`);

  const byList = Object.fromEntries(series.map((s) => [s.labels['memwatcher_lru_list'], s.value]));
  assert.deepEqual(byList, { active_file: 1_048_576, inactive_file: 2_097_152 });
  for (const s of series) {
    assert.equal(s.labels['__name__'], 'memwatcher_system_memory_lru');
    assert.equal(s.labels['job'], 'memwatcher');
    assert.equal(s.labels['instance'], `127.0.0.1:${exporterPort}`);
    assert.equal(s.labels['otel_scope_name'], 'memwatcher');
    assert.equal(s.labels['otel_scope_version'], '0.1.0');
  }

  // every name the scrape produced, to pin the naming rule down
  const all = await prom.query('{__name__=~"memwatcher_.*"}');
  const names = [...new Set(all.map((s) => s.labels['__name__']))].sort();
  assert.deepEqual(names, [
    'memwatcher_system_memory_alloc_latency_bucket',
    'memwatcher_system_memory_alloc_latency_count',
    'memwatcher_system_memory_alloc_latency_sum',
    'memwatcher_system_memory_dirty', // {page} gauge: no suffix
    'memwatcher_system_memory_lru', // By gauge: no _bytes
    'memwatcher_system_memory_mapped', // By up-down counter: a gauge, no suffix
    'memwatcher_system_memory_reclaimed_total', // By counter: _total only
    'memwatcher_system_memory_refaults_total', // {page} counter: _total only
    'memwatcher_system_memory_stall', // s gauge: no _seconds
  ]);
  const value = async (q: string): Promise<number | undefined> => (await prom.query(q))[0]?.value;
  assert.equal(await value('memwatcher_system_memory_refaults_total'), 42);
  assert.equal(await value('memwatcher_system_memory_reclaimed_total'), 4096);
  assert.equal(await value('memwatcher_system_memory_alloc_latency_bucket{le="0.01"}'), 1);

  // resource attributes arrive on target_info
  assert.equal((await prom.query('target_info'))[0]?.labels['service_name'], 'mem-watcher-test');
  const targets = await prom.targets();
  assert.deepEqual(targets.map((x) => [x.scrapeUrl, x.health]), [[`http://127.0.0.1:${exporterPort}/metrics`, 'up']]);
});
