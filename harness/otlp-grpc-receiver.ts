// A real OTLP/gRPC receiver for tests: grpc-js serving the collector's MetricsService and
// TraceService Export methods (the paths the official opentelemetry-proto services define).
// Requests are taken as raw protobuf and decoded like the HTTP receiver's, so tests assert on
// the same normalized structure.
import { Server, ServerCredentials, type ServiceDefinition, type Metadata } from '@grpc/grpc-js';
import { decodeExportMetricsServiceRequest, decodeExportTraceServiceRequest } from './otlp-protobuf.ts';
import { normalizeMetrics, normalizeSpans, type OtlpMetric, type OtlpSpan } from './otlp-normalize.ts';
import { scaled } from './time-scale.ts';

export interface OtlpGrpcReceiver {
  /** http://127.0.0.1:PORT: the exporter's insecure-channel form */
  readonly url: string;
  metrics(): OtlpMetric[];
  spans(): OtlpSpan[];
  /** metadata of every call, in arrival order */
  readonly metadata: Metadata[];
  waitFor<T>(probe: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };

function exportService(path: string): ServiceDefinition {
  return {
    Export: { path, requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  };
}

export async function startOtlpGrpcReceiver(): Promise<OtlpGrpcReceiver> {
  const metrics: OtlpMetric[] = [];
  const spans: OtlpSpan[] = [];
  const metadata: Metadata[] = [];
  const listeners = new Set<() => void>();
  const server = new Server();
  const handler = (sink: (request: Buffer) => void) => (call: { request: Buffer; metadata: Metadata }, cb: (err: Error | null, res?: Buffer) => void) => {
    metadata.push(call.metadata);
    try {
      sink(call.request);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, Buffer.alloc(0)); // an empty Export*ServiceResponse: everything accepted
    for (const l of [...listeners]) l();
  };
  server.addService(exportService('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export'), {
    Export: handler((buf) => metrics.push(...normalizeMetrics(decodeExportMetricsServiceRequest(buf), 'protobuf'))),
  });
  server.addService(exportService('/opentelemetry.proto.collector.trace.v1.TraceService/Export'), {
    Export: handler((buf) => spans.push(...normalizeSpans(decodeExportTraceServiceRequest(buf), 'protobuf'))),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    url: `http://127.0.0.1:${port}`,
    metrics: () => [...metrics],
    spans: () => [...spans],
    metadata,
    waitFor<T>(probe: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const check = (): boolean => {
          const v = probe();
          if (v === undefined || v === null || v === false) return false;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(v);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`gRPC receiver: condition not met; ${metrics.length} metrics, ${spans.length} spans arrived`));
        }, scaled(timeoutMs));
        listeners.add(check);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
