// growth's spans on reports: one memory.growth span per suspect episode, named by its lead
// frame; a report that went out unsymbolized (the symbolizer still busy with a slow first
// batch) must not spend that one span on a stack without names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/log.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import { growthSpans } from '../../src/probes/growth/telemetry.ts';
import type { GrowthReport, ProcessGrowth } from '../../src/probes/growth/report.ts';

const LEAK = { address: 0x401136n, module: '/tmp/gleak', function: 'leak_block', file: '/tmp/gleak.c', line: 5 };

function report(seq: number, symbolized: boolean, suspect: boolean): GrowthReport {
  const p: ProcessGrowth = {
    pid: 42, executable: 'gleak', container: {}, bytes: 1 << 20, totalBytes: seq << 20, mapped: 1 << 20, unmapped: 0,
    rssTrend: [1, 2, 3, 4].map((i) => (seq + i) << 20), suspect,
    top: [{ stackId: 7, bytes: 1 << 20, mapped: 1 << 20, events: 256, totalBytes: seq << 20, frames: symbolized ? [LEAK] : [] }],
  };
  return { kind: 'growth', seq, timeMs: seq * 1000, intervalMs: 1000, processes: [p], ended: [], faultSample: 1, symbolized };
}

test('spans: a suspect first seen in an unsymbolized report gets its one span from the next symbolized report', async () => {
  const exporter = new InMemorySpanExporter();
  const tp = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const mp = new MeterProvider();
  const cfg = loadConfig({ env: {} }).config;
  const h = growthSpans({ meter: mp.getMeter('t'), tracer: tp.getTracer('t'), config: cfg.probes.growth, log: silentLogger, kernel: readKernelInfo() });
  h.onRecord(report(3, false, true));
  h.onRecord(report(4, false, true));
  assert.deepEqual(exporter.getFinishedSpans().filter((s) => s.name === 'memory.growth'), [], 'no span from unsymbolized reports');
  h.onRecord(report(5, true, true));
  h.onRecord(report(6, true, true));
  const roots = exporter.getFinishedSpans().filter((s) => s.name === 'memory.growth');
  assert.equal(roots.length, 1, 'one span per episode');
  assert.equal(roots[0]!.attributes['code.function.name'], 'leak_block');
  assert.equal(roots[0]!.attributes['code.line.number'], 5);
  await tp.shutdown();
  await mp.shutdown();
});
