// The CLI exporting over OTLP/gRPC to a real gRPC receiver (grpc-js serving the collector's
// Export methods): metrics and spans arrive, selected by the whole-protocol variable and per signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOtlpGrpcReceiver } from '../../harness/otlp-grpc-receiver.ts';
import { startOtlpReceiver } from '../../harness/otlp-receiver.ts';
import { startCli } from '../helpers/cli.ts';

test('OTEL_EXPORTER_OTLP_PROTOCOL=grpc: metrics and memleak.report spans arrive at a gRPC receiver, with the headers as metadata', async () => {
  const rx = await startOtlpGrpcReceiver();
  const cli = startCli(['--memleak-command', 'sleep 60', '--exporter', 'otlp', '--interval', '0.5'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=mem',
    OTEL_METRIC_EXPORT_INTERVAL: '500',
  });
  try {
    const span = await rx.waitFor(() => rx.spans().find((s) => s.name === 'memleak.report'), 20_000);
    assert.equal(span.resource['service.name'], 'mem-watcher');
    const attached = await rx.waitFor(() => rx.metrics().find((m) => m.name === 'memwatcher.probe.attached'), 20_000);
    assert.ok(attached.points.some((p) => p.attributes['memwatcher.probe'] === 'memleak' && p.value === 1), 'memleak attached, reported over gRPC');
    assert.ok(rx.metadata.every((md) => md.get('x-tenant')[0] === 'mem'), 'headers travel as gRPC metadata');
  } finally {
    cli.child.kill('SIGTERM');
    await new Promise((r) => cli.child.once('exit', r));
    await rx.close();
  }
});

test('per signal: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc sends spans over gRPC while metrics stay on HTTP/protobuf', async () => {
  const grpc = await startOtlpGrpcReceiver();
  const http = await startOtlpReceiver();
  const cli = startCli(['--memleak-command', 'sleep 60', '--exporter', 'otlp', '--interval', '0.5'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: http.url,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: grpc.url,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
    OTEL_METRIC_EXPORT_INTERVAL: '500',
  });
  try {
    await grpc.waitFor(() => grpc.spans().find((s) => s.name === 'memleak.report'), 20_000);
    await http.waitFor(() => http.metrics().find((m) => m.name === 'memwatcher.probe.attached'), 20_000);
    assert.equal(grpc.metrics().length, 0, 'no metrics over gRPC');
    assert.equal(http.spans().length, 0, 'no spans over HTTP');
    assert.ok(http.metrics().every((m) => m.protocol === 'protobuf'));
  } finally {
    cli.child.kill('SIGTERM');
    await new Promise((r) => cli.child.once('exit', r));
    await grpc.close();
    await http.close();
  }
});
