// Proves the OTLP test receiver is real: the OpenTelemetry SDKs' own OTLP exporters (protobuf
// and JSON, plain and gzip) post to it, and it decodes names, units, values, attributes,
// resources and span linkage to one normalized structure.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { context, SpanKind, SpanStatusCode, trace, ValueType } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { startOtlpReceiver } from '../../harness/otlp-receiver.ts';
import type { OtlpMetric, OtlpReceiver, OtlpSpan } from '../../harness/otlp-receiver.ts';

type Protocol = 'protobuf' | 'json';
type Compression = NonNullable<NonNullable<ConstructorParameters<typeof ProtoMetricExporter>[0]>['compression']>;

const RESOURCE = { 'service.name': 'mem-watcher-test', 'host.name': 'node-a', 'memwatcher.test.int': 7 };

function metricExporter(protocol: Protocol, url: string, gzip = false, timeoutMillis?: number): PushMetricExporter {
  const config = {
    url: url + '/v1/metrics',
    ...(gzip ? { compression: 'gzip' as Compression } : {}),
    ...(timeoutMillis === undefined ? {} : { timeoutMillis }),
  };
  return protocol === 'protobuf' ? new ProtoMetricExporter(config) : new JsonMetricExporter(config);
}

function traceExporter(protocol: Protocol, url: string): SpanExporter {
  const config = { url: url + '/v1/traces' };
  return protocol === 'protobuf' ? new ProtoTraceExporter(config) : new JsonTraceExporter(config);
}

function meterProvider(exporter: PushMetricExporter): MeterProvider {
  return new MeterProvider({
    resource: resourceFromAttributes(RESOURCE),
    // a long interval: only forceFlush() exports
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })],
  });
}

function byName(metrics: OtlpMetric[], name: string): OtlpMetric {
  const found = metrics.filter((m) => m.name === name);
  assert.equal(found.length, 1, `exactly one export of ${name}`);
  return found[0] as OtlpMetric;
}

for (const protocol of ['protobuf', 'json'] as const) {
  for (const gzip of [false, true]) {
    test(`metrics over OTLP/HTTP ${protocol}${gzip ? ' + gzip' : ''} decode to the normalized structure`, async (t) => {
      const rx = await startOtlpReceiver();
      const provider = meterProvider(metricExporter(protocol, rx.url, gzip));
      t.after(async () => {
        await provider.shutdown(); // exports once more, while the receiver still listens
        await rx.close();
      });
      const meter = provider.getMeter('memwatcher.test', '1.2.3');

      meter.createGauge('memwatcher.test.free', { unit: 'By', description: 'free bytes' })
        .record(4096.5, { 'memwatcher.zone': 'Normal' });
      const counter = meter.createCounter('memwatcher.test.refaults', { unit: '{page}', valueType: ValueType.INT });
      counter.add(3, { 'memwatcher.lru.list': 'active_file' });
      counter.add(4, { 'memwatcher.lru.list': 'active_file' });
      counter.add(5, { 'memwatcher.lru.list': 'inactive_file' });
      meter.createUpDownCounter('memwatcher.test.dirty', { unit: '{page}', valueType: ValueType.INT }).add(-2);
      const hist = meter.createHistogram('memwatcher.test.stall', {
        unit: 's',
        advice: { explicitBucketBoundaries: [0.001, 0.01, 0.1, 1] },
      });
      for (const v of [0.0005, 0.05, 0.05, 2]) hist.record(v, { 'memwatcher.kind': 'direct' });

      await provider.forceFlush();
      const metrics = await rx.waitFor(() => rx.metrics().length >= 4 && rx.metrics());

      const req = rx.requests;
      assert.equal(req.byPath['/v1/metrics'], 1);
      assert.deepEqual(req.contentTypes, [protocol === 'protobuf' ? 'application/x-protobuf' : 'application/json']);
      assert.equal(req.log[0]?.contentEncoding, gzip ? 'gzip' : '');
      assert.equal(req.log[0]?.chunked, true); // the Node exporters stream their bodies
      assert.equal(req.log[0]?.status, 200);

      for (const m of metrics) {
        assert.equal(m.protocol, protocol);
        assert.deepEqual(m.resource, RESOURCE);
        assert.deepEqual([m.scope.name, m.scope.version], ['memwatcher.test', '1.2.3']);
      }

      const gauge = byName(metrics, 'memwatcher.test.free');
      assert.deepEqual([gauge.kind, gauge.unit, gauge.description], ['gauge', 'By', 'free bytes']);
      assert.equal(gauge.points.length, 1);
      assert.deepEqual(gauge.points[0]?.attributes, { 'memwatcher.zone': 'Normal' });
      assert.equal(gauge.points[0]?.value, 4096.5);
      assert.equal(gauge.points[0]?.valueType, 'double');
      assert.ok((gauge.points[0]?.timeUnixNano ?? 0n) > 1_600_000_000n * 1_000_000_000n, 'a real epoch-ns timestamp');

      const counterM = byName(metrics, 'memwatcher.test.refaults');
      assert.deepEqual([counterM.kind, counterM.unit, counterM.monotonic, counterM.temporality], ['sum', '{page}', true, 'cumulative']);
      const perList = Object.fromEntries(counterM.points.map((p) => [p.attributes['memwatcher.lru.list'], p.value]));
      assert.deepEqual(perList, { active_file: 7, inactive_file: 5 });
      assert.ok(counterM.points.every((p) => p.valueType === 'int'));
      assert.ok(counterM.points.every((p) => p.startTimeUnixNano > 0n && p.startTimeUnixNano <= p.timeUnixNano));

      const upDown = byName(metrics, 'memwatcher.test.dirty');
      assert.deepEqual([upDown.kind, upDown.monotonic, upDown.points[0]?.value], ['sum', false, -2]);

      const h = byName(metrics, 'memwatcher.test.stall');
      assert.deepEqual([h.kind, h.unit, h.temporality], ['histogram', 's', 'cumulative']);
      assert.deepEqual(h.points[0]?.attributes, { 'memwatcher.kind': 'direct' });
      const hv = h.points[0]?.histogram;
      assert.ok(hv);
      assert.equal(hv.count, 4);
      assert.ok(Math.abs((hv.sum ?? 0) - 2.1005) < 1e-9);
      assert.deepEqual([hv.min, hv.max], [0.0005, 2]);
      assert.deepEqual(hv.bounds, [0.001, 0.01, 0.1, 1]);
      assert.deepEqual(hv.buckets, [1, 0, 2, 0, 1]);
    });
  }

  test(`spans over OTLP/HTTP ${protocol} decode with parent/child linkage`, async (t) => {
    const rx = await startOtlpReceiver();
    const provider = new TracerProvider({
      resource: resourceFromAttributes(RESOURCE),
      spanProcessors: [new BatchSpanProcessor({ exporter: traceExporter(protocol, rx.url) })],
    });
    t.after(async () => {
      await provider.shutdown();
      await rx.close();
    });
    const tracer = provider.getTracer('memwatcher.tracer', '0.1.0');

    const parent = tracer.startSpan('memwatcher.oom_kill', {
      kind: SpanKind.SERVER,
      attributes: { 'memwatcher.pid': 1234, 'memwatcher.comm': 'stress', 'memwatcher.ratio': 0.25, 'memwatcher.victim': true, 'memwatcher.cgroups': ['a', 'b'] },
    });
    parent.addEvent('memwatcher.reclaim', { 'memwatcher.order': 3 });
    const child = tracer.startSpan('memwatcher.direct_reclaim', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), parent));
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'stalled' });
    child.end();
    parent.setStatus({ code: SpanStatusCode.OK });
    parent.end();

    await provider.forceFlush();
    const spans = await rx.waitFor(() => rx.spans().length >= 2 && rx.spans());
    assert.equal(rx.requests.byPath['/v1/traces'], 1);
    assert.deepEqual(rx.requests.contentTypes, [protocol === 'protobuf' ? 'application/x-protobuf' : 'application/json']);

    const p = spans.find((s) => s.name === 'memwatcher.oom_kill') as OtlpSpan;
    const c = spans.find((s) => s.name === 'memwatcher.direct_reclaim') as OtlpSpan;
    assert.ok(p && c);
    assert.equal(p.protocol, protocol);
    assert.match(p.traceId, /^[0-9a-f]{32}$/);
    assert.match(p.spanId, /^[0-9a-f]{16}$/);
    assert.equal(p.traceId, parent.spanContext().traceId);
    assert.equal(p.spanId, parent.spanContext().spanId);
    assert.equal(p.parentSpanId, undefined);
    assert.equal(c.traceId, p.traceId);
    assert.equal(c.parentSpanId, p.spanId);
    assert.equal(c.spanId, child.spanContext().spanId);
    assert.deepEqual([p.kind, c.kind], ['server', 'client']);
    assert.deepEqual(p.attributes, {
      'memwatcher.pid': 1234, 'memwatcher.comm': 'stress', 'memwatcher.ratio': 0.25, 'memwatcher.victim': true, 'memwatcher.cgroups': ['a', 'b'],
    });
    assert.equal(p.events.length, 1);
    assert.equal(p.events[0]?.name, 'memwatcher.reclaim');
    assert.deepEqual(p.events[0]?.attributes, { 'memwatcher.order': 3 });
    assert.deepEqual(p.status, { code: 'ok', message: '' });
    assert.deepEqual(c.status, { code: 'error', message: 'stalled' });
    // the SDK's clocks are only ms-consistent between spans: check each span, not their order
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    for (const s of [p, c]) {
      assert.ok(s.startTimeUnixNano <= s.endTimeUnixNano, `${s.name} ends after it starts`);
      assert.ok(nowNs - s.startTimeUnixNano < 60_000_000_000n && s.startTimeUnixNano - nowNs < 60_000_000_000n, 'epoch ns of now');
    }
    assert.equal(p.resource['service.name'], 'mem-watcher-test');
    assert.deepEqual([p.scope.name, p.scope.version], ['memwatcher.tracer', '0.1.0']);
  });
}

// ---- hand-made requests: wire details the SDK never produces ---------------------------------

// A minimal protobuf encoder, only to build test inputs.
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
function varint(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    const low = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x > 0n ? low | 0x80 : low);
  } while (x > 0n);
  return Uint8Array.from(out);
}
const key = (no: number, wire: number): Uint8Array => varint(BigInt((no << 3) | wire));
const pbVarint = (no: number, v: bigint | number): Uint8Array => cat(key(no, 0), varint(BigInt(v)));
const pbBytes = (no: number, b: Uint8Array): Uint8Array => cat(key(no, 2), varint(BigInt(b.length)), b);
const pbString = (no: number, s: string): Uint8Array => pbBytes(no, Buffer.from(s, 'utf8'));
const pbMsg = (no: number, ...fields: Uint8Array[]): Uint8Array => pbBytes(no, cat(...fields));
function pbFixed64(no: number, v: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return cat(key(no, 1), b);
}
function pbDouble(no: number, v: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return cat(key(no, 1), b);
}
function pbPackedDoubles(no: number, vs: number[]): Uint8Array {
  const b = Buffer.alloc(8 * vs.length);
  vs.forEach((v, i) => b.writeDoubleLE(v, 8 * i));
  return pbBytes(no, b);
}
const kv = (k: string, value: Uint8Array): Uint8Array => cat(pbString(1, k), pbMsg(2, value));

const T0 = 1_700_000_000_123_456_789n;
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

// Every AnyValue kind, an unpacked repeated fixed64, a negative as_int, an unknown field.
function handMadeMetricsProto(): Uint8Array {
  const attrs = cat(
    pbMsg(1, kv('s', pbString(1, 'x'))),
    pbMsg(1, kv('b', pbVarint(2, 1))),
    pbMsg(1, kv('i', pbVarint(3, -5n))),
    pbMsg(1, kv('big', pbVarint(3, 9_007_199_254_740_993n))),
    pbMsg(1, kv('d', pbDouble(4, 1.5))),
    pbMsg(1, kv('arr', pbMsg(5, pbMsg(1, pbString(1, 'a')), pbMsg(1, pbVarint(3, 2))))),
    pbMsg(1, kv('kv', pbMsg(6, pbMsg(1, kv('inner', pbString(1, 'y')))))),
    pbMsg(1, kv('raw', pbBytes(7, Uint8Array.from([0xde, 0xad])))),
  );
  const gauge = pbMsg(2,
    pbString(1, 'hand.gauge'), pbString(3, '{page}'),
    pbString(99, 'an unknown field the decoder must skip'),
    pbMsg(5, pbMsg(1, pbFixed64(3, T0), pbFixed64(6, -42n), pbMsg(7, kv('cpu', pbString(1, '0'))))));
  const hist = pbMsg(2,
    pbString(1, 'hand.hist'), pbString(3, 'ms'),
    pbMsg(9,
      pbMsg(1, pbFixed64(2, T0 - 1n), pbFixed64(3, T0), pbFixed64(4, 3n), pbDouble(5, 12),
        pbFixed64(6, 1n), pbFixed64(6, 2n), pbFixed64(6, 0n), // unpacked
        pbPackedDoubles(7, [5, 10])),
      pbVarint(2, 1)));
  return pbMsg(1, pbMsg(1, attrs), pbMsg(2, pbMsg(1, pbString(1, 'hand')), gauge, hist));
}

const handMadeMetricsJson = {
  resourceMetrics: [{
    resource: {
      attributes: [
        { key: 's', value: { stringValue: 'x' } },
        { key: 'b', value: { boolValue: true } },
        { key: 'i', value: { intValue: '-5' } },
        { key: 'big', value: { intValue: '9007199254740993' } },
        { key: 'd', value: { doubleValue: 1.5 } },
        { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 2 }] } } },
        { key: 'kv', value: { kvlistValue: { values: [{ key: 'inner', value: { stringValue: 'y' } }] } } },
        { key: 'raw', value: { bytesValue: Buffer.from([0xde, 0xad]).toString('base64') } },
      ],
    },
    scopeMetrics: [{
      scope: { name: 'hand' },
      metrics: [
        { name: 'hand.gauge', unit: '{page}', gauge: { dataPoints: [{ timeUnixNano: String(T0), asInt: '-42', attributes: [{ key: 'cpu', value: { stringValue: '0' } }] }] } },
        {
          name: 'hand.hist', unit: 'ms',
          histogram: {
            aggregationTemporality: 1,
            dataPoints: [{ startTimeUnixNano: String(T0 - 1n), timeUnixNano: String(T0), count: '3', sum: 12, bucketCounts: ['1', '2', '0'], explicitBounds: [5, 10] }],
          },
        },
      ],
    }],
  }],
};

function handMadeTraceProto(): Uint8Array {
  const span = pbMsg(2,
    pbBytes(1, Buffer.from(TRACE_ID, 'hex')), pbBytes(2, Buffer.from(SPAN_ID, 'hex')),
    pbString(5, 'hand.span'), pbVarint(6, 4), pbFixed64(7, T0), pbFixed64(8, T0 + 10n),
    pbMsg(13, pbBytes(1, Buffer.from(TRACE_ID, 'hex')), pbBytes(2, Buffer.from('00f067aa0ba902b7', 'hex'))),
    pbMsg(15, pbString(2, 'bad'), pbVarint(3, 2)));
  return pbMsg(1, pbMsg(2, span));
}

const handMadeTraceJson = {
  resourceSpans: [{
    scopeSpans: [{
      spans: [{
        traceId: TRACE_ID.toUpperCase(), spanId: SPAN_ID, parentSpanId: '', name: 'hand.span', kind: 4,
        startTimeUnixNano: String(T0), endTimeUnixNano: String(T0 + 10n),
        links: [{ traceId: TRACE_ID, spanId: '00f067aa0ba902b7' }],
        status: { code: 2, message: 'bad' },
      }],
    }],
  }],
};

/** Posts a body chunked (no Content-Length), in three writes, optionally gzipped. */
function post(url: string, contentType: string, body: Uint8Array, gzip: boolean): Promise<{ status: number; body: string }> {
  const payload = gzip ? gzipSync(body) : Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': contentType, ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    const third = Math.ceil(payload.length / 3);
    req.write(payload.subarray(0, third));
    req.write(payload.subarray(third, 2 * third));
    req.end(payload.subarray(2 * third));
  });
}

const strip = <T extends { protocol: string }>(xs: T[]): Omit<T, 'protocol'>[] => xs.map(({ protocol: _, ...rest }) => rest);

describe('hand-made OTLP requests (chunked, gzip, every AnyValue kind)', () => {
  let rx: OtlpReceiver;
  before(async () => {
    rx = await startOtlpReceiver();
  });
  after(() => rx.close());

  test('protobuf and JSON bodies of the same metrics normalize identically', async () => {
    rx.reset();
    assert.equal((await post(rx.url + '/v1/metrics', 'application/x-protobuf', handMadeMetricsProto(), true)).status, 200);
    const fromJson = Buffer.from(JSON.stringify(handMadeMetricsJson));
    assert.equal((await post(rx.url + '/v1/metrics', 'application/json; charset=utf-8', fromJson, false)).status, 200);
    assert.deepEqual(rx.requests.log.map((r) => [r.protocol, r.chunked, r.contentEncoding]), [['protobuf', true, 'gzip'], ['json', true, '']]);

    const [pg, ph, jg, jh] = rx.metrics();
    assert.ok(pg && ph && jg && jh);
    assert.deepEqual(strip([pg, ph]), strip([jg, jh]));
    assert.deepEqual(pg.resource, {
      s: 'x', b: true, i: -5, big: 9_007_199_254_740_993n, d: 1.5, arr: ['a', 2], kv: { inner: 'y' }, raw: Uint8Array.from([0xde, 0xad]),
    });
    assert.deepEqual(pg.points, [{ attributes: { cpu: '0' }, startTimeUnixNano: 0n, timeUnixNano: T0, value: -42, valueType: 'int' }]);
    assert.equal(pg.unit, '{page}');
    assert.equal(ph.temporality, 'delta');
    assert.deepEqual(ph.points[0]?.histogram, { count: 3, sum: 12, min: undefined, max: undefined, bounds: [5, 10], buckets: [1, 2, 0] });
    assert.equal(ph.points[0]?.startTimeUnixNano, T0 - 1n);
  });

  test('protobuf and JSON bodies of the same span normalize identically', async () => {
    rx.reset();
    assert.equal((await post(rx.url + '/v1/traces', 'application/x-protobuf', handMadeTraceProto(), false)).status, 200);
    assert.equal((await post(rx.url + '/v1/traces', 'application/json', Buffer.from(JSON.stringify(handMadeTraceJson)), true)).status, 200);
    const [ps, js] = rx.spans();
    assert.ok(ps && js);
    assert.deepEqual(strip([ps]), strip([js]));
    assert.deepEqual([ps.traceId, ps.spanId, ps.parentSpanId, ps.kind], [TRACE_ID, SPAN_ID, undefined, 'producer']);
    assert.deepEqual(ps.links, [{ traceId: TRACE_ID, spanId: '00f067aa0ba902b7', attributes: {} }]);
    assert.deepEqual(ps.status, { code: 'error', message: 'bad' });
    assert.equal(ps.endTimeUnixNano - ps.startTimeUnixNano, 10n);
  });

  test('rejects what is not OTLP/HTTP', async () => {
    rx.reset();
    assert.equal((await post(rx.url + '/v1/logs', 'application/json', Buffer.from('{}'), false)).status, 404);
    assert.equal((await post(rx.url + '/v1/metrics', 'text/plain', Buffer.from('x'), false)).status, 415);
    assert.equal((await post(rx.url + '/v1/metrics', 'application/x-protobuf', Uint8Array.from([0x0a, 0x05, 0x01]), false)).status, 400);
    assert.equal((await post(rx.url + '/v1/metrics', 'application/json', Buffer.from('{nope'), false)).status, 400);
    assert.deepEqual(rx.metrics(), []);
    assert.equal(rx.requests.total, 4);
    assert.match(rx.requests.log[2]?.error ?? '', /overruns/);
  });
});

// ---- fault behaviours, seen through the real exporter's retry logic ---------------------------

describe('receiver fault behaviours', () => {
  // sdk-metrics' forceFlush() reports export failures to the global error handler, not to the
  // caller: what the exporter did is read from the receiver's request log.
  test('a 503 with Retry-After is retried by the exporter, then accepted', async (t) => {
    const rx = await startOtlpReceiver();
    rx.setBehaviour({ status: 503, retryAfterSeconds: 1, times: 1 });
    const provider = meterProvider(metricExporter('protobuf', rx.url));
    t.after(async () => {
      await provider.shutdown();
      await rx.close();
    });
    provider.getMeter('m').createGauge('retry.gauge').record(1);
    await provider.forceFlush();
    const [first, second] = rx.requests.log;
    assert.ok(first && second);
    assert.deepEqual([first.status, first.accepted, second.status, second.accepted], [503, false, 200, true]);
    assert.ok(second.receivedAt - first.receivedAt >= 900, 'the exporter honoured Retry-After: 1');
    assert.deepEqual(rx.metrics().map((m) => m.name), ['retry.gauge']);
  });

  test('a non-retryable status fails the export and records nothing', async (t) => {
    const rx = await startOtlpReceiver({ status: () => 400 });
    const provider = meterProvider(metricExporter('json', rx.url));
    t.after(async () => {
      await provider.shutdown();
      await rx.close();
    });
    provider.getMeter('m').createGauge('rejected.gauge').record(1);
    await provider.forceFlush();
    assert.deepEqual(rx.requests.log.map((r) => [r.status, r.accepted]), [[400, false]]);
    assert.deepEqual(rx.metrics(), []);
  });

  test('hang: the exporter times out, close() still returns', async (t) => {
    const rx = await startOtlpReceiver();
    rx.setBehaviour('hang');
    const provider = meterProvider(metricExporter('protobuf', rx.url, false, 300));
    provider.getMeter('m').createGauge('hung.gauge').record(1);
    const started = Date.now();
    await provider.forceFlush();
    assert.ok(Date.now() - started < 5000, 'the exporter gave up after its 300 ms timeout');
    assert.equal(rx.requests.total, 1);
    assert.deepEqual([rx.requests.log[0]?.status, rx.requests.log[0]?.accepted], [undefined, false]);
    assert.deepEqual(rx.metrics(), []);
    await rx.close();
    await provider.shutdown(); // its final export fails fast against the closed port
    t.diagnostic(`hang test took ${Date.now() - started} ms`);
  });

  test('waitFor rejects with a summary of what arrived', async (t) => {
    const rx = await startOtlpReceiver();
    t.after(() => rx.close());
    await assert.rejects(rx.waitFor(() => rx.metrics().length > 0, 50), /timed out after 50 ms; received 0 request/);
  });
});
