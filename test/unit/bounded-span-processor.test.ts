// The span export queue under a slow or failing backend: bounded, oldest dropped first, every
// loss counted, failed batches kept for the next attempt, delivery resumed when it recovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { BoundedSpanProcessor } from '../../src/telemetry/bounded-span-processor.ts';

type Mode = 'ok' | 'fail' | 'hang' | 'reject';

/** A backend stand-in: records what it was given and answers as told. */
class TestExporter implements SpanExporter {
  mode: Mode = 'ok';
  delivered: string[] = [];
  calls = 0;
  export(spans: ReadableSpan[], done: (r: { code: number; error?: Error }) => void): void {
    this.calls++;
    if (this.mode === 'hang') return;
    if (this.mode === 'fail') return done({ code: 1, error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    if (this.mode === 'reject') return done({ code: 1, error: Object.assign(new Error('Bad Request'), { code: 400 }) });
    this.delivered.push(...spans.map((s) => s.name));
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

function setup(maxQueueSize: number, opts: { batch?: number; timeoutMs?: number } = {}) {
  const exporter = new TestExporter();
  const drops: string[] = [];
  const processor = new BoundedSpanProcessor({
    exporter,
    maxQueueSize,
    maxExportBatchSize: opts.batch ?? 4,
    scheduledDelayMillis: 10,
    exportTimeoutMillis: opts.timeoutMs ?? 200,
    onDrop: (_n, reason) => drops.push(reason),
  });
  const provider = new TracerProvider({ spanProcessors: [processor] });
  const tracer = provider.getTracer('t');
  const emit = (...names: string[]) => { for (const n of names) tracer.startSpan(n).end(); };
  return { exporter, processor, emit, drops, provider };
}

const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `s${from + i}`);

test('healthy backend: every span delivered in order, nothing dropped', async () => {
  const { exporter, processor, emit } = setup(16);
  emit(...names(0, 10));
  await processor.forceFlush();
  assert.deepEqual(exporter.delivered, names(0, 10));
  assert.equal(processor.dropped, 0);
  assert.equal(processor.queued, 0);
});

test('backend down: the queue stays bounded, the oldest are dropped and counted, the newest delivered on recovery', async () => {
  const { exporter, processor, emit, drops } = setup(8);
  exporter.mode = 'fail';
  emit(...names(0, 30));
  await processor.forceFlush(); // fails: the batch goes back to the head
  assert.ok(processor.queued <= 8, `queue holds ${processor.queued}`);
  assert.equal(processor.dropped, 22);
  assert.equal(drops.length, 1, 'one warning per episode, not one per span');
  exporter.mode = 'ok';
  await processor.forceFlush();
  assert.deepEqual(exporter.delivered, names(22, 30), 'the 8 newest spans arrive, in order');
  assert.equal(processor.dropped + processor.exported, 30, 'every span is either delivered or counted');
});

test('a hanging export times out, keeps its spans, and does not stop new ones from queueing', async () => {
  const { exporter, processor, emit } = setup(6, { timeoutMs: 50 });
  exporter.mode = 'hang';
  emit(...names(0, 4)); // a full batch: export starts at once and hangs
  emit(...names(4, 10));
  assert.ok(processor.queued <= 6);
  await new Promise((r) => setTimeout(r, 120)); // the export timed out
  exporter.mode = 'ok';
  await processor.forceFlush();
  assert.equal(processor.dropped + processor.exported, 10);
  assert.deepEqual(exporter.delivered, names(10 - exporter.delivered.length, 10), 'what survives is the newest');
  assert.equal(exporter.delivered.length, 6);
});

test('a batch the backend rejects (4xx) is dropped and counted, not retried forever', async () => {
  const { exporter, processor, emit } = setup(16);
  exporter.mode = 'reject';
  emit(...names(0, 4));
  await processor.forceFlush();
  assert.equal(processor.dropped, 4);
  assert.equal(processor.queued, 0);
  exporter.mode = 'ok';
  emit('after');
  await processor.forceFlush();
  assert.deepEqual(exporter.delivered, ['after']);
});

test('shutdown with the backend down counts what could not be sent', async () => {
  const { exporter, processor, emit, provider } = setup(100);
  exporter.mode = 'fail';
  emit(...names(0, 10));
  await provider.shutdown();
  assert.equal(processor.dropped, 10);
  emit('late'); // after shutdown: ignored, not queued
  assert.equal(processor.queued, 0);
});

test('a span storm against a hung export: memory bounded by the queue, every span accounted for', () => {
  const { exporter, processor, emit } = setup(1000, { batch: 512 });
  exporter.mode = 'hang';
  for (let i = 0; i < 20_000; i++) emit('x');
  assert.equal(processor.queued, 1000);
  assert.equal(processor.queued + processor.dropped + 512, 20_000, 'queued + dropped + the batch in flight');
});
