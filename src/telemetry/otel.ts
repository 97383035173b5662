// Builds the OpenTelemetry pipeline from the config: a MeterProvider with a reader per metric
// exporter (OTLP, Prometheus) and a TracerProvider for spans. Providers are created here and
// passed down, never kept in module state.
import { Metadata } from '@grpc/grpc-js';
import { diag, DiagLogLevel, type Meter, type Tracer } from '@opentelemetry/api';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { OTLPMetricExporter as OTLPMetricExporterProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as OTLPMetricExporterJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter as OTLPMetricExporterGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPTraceExporter as OTLPTraceExporterGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { servePrometheus, type PrometheusServer } from './prometheus-server.ts';
import type { Resource } from '@opentelemetry/resources';
import type { CoreConfig as Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { BoundedSpanProcessor } from './bounded-span-processor.ts';
import { ObservedInstruments } from './observed-instruments.ts';
import { buildResource, parseKeyValueList, SERVICE_VERSION } from './resource.ts';
import { METRIC, UNIT } from './semconv.ts';

export interface Telemetry {
  meter: Meter;
  /** Present when spans are exported somewhere. */
  tracer?: Tracer;
  resource: Resource;
  /** Export what was collected so far (shutdown does it too). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export class TelemetryStartError extends Error {}

export function tracesEnabled(config: Config): boolean {
  const t = config.traces.exporter;
  return t === 'otlp' || (t === 'auto' && config.exporters.includes('otlp'));
}

function signalProtocol(config: Config, signal: 'metrics' | 'traces'): string {
  const specific = signal === 'metrics' ? config.otlp.metrics_protocol : config.otlp.traces_protocol;
  return specific === 'auto' ? config.otlp.protocol : specific;
}

/** The spec's rules: a per-signal URL is used as is; over HTTP the base gets /v1/<signal>, over gRPC it is the server's address. */
function signalUrl(config: Config, signal: 'metrics' | 'traces'): string {
  const specific = signal === 'metrics' ? config.otlp.metrics_endpoint : config.otlp.traces_endpoint;
  if (specific) return specific;
  const grpc = signalProtocol(config, signal) === 'grpc';
  const base = config.otlp.endpoint || (grpc ? 'http://localhost:4317' : 'http://localhost:4318');
  return grpc ? base : base.replace(/\/+$/, '') + `/v1/${signal}`;
}

function signalHeaders(config: Config, signal: 'metrics' | 'traces'): Record<string, string> {
  return {
    ...parseKeyValueList(config.otlp.headers, 'OTLP headers'),
    ...parseKeyValueList(signal === 'metrics' ? config.otlp.metrics_headers : config.otlp.traces_headers, `OTLP ${signal} headers`),
  };
}

/** gRPC carries headers as metadata; an http:// URL means an insecure channel, https:// TLS (the exporter's own rule). */
function grpcOptions(opts: { url: string; headers: Record<string, string>; timeoutMillis: number }) {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(opts.headers)) metadata.set(k, v);
  return { url: opts.url, metadata, timeoutMillis: opts.timeoutMillis };
}

function metricExporter(config: Config): PushMetricExporter {
  const opts = { url: signalUrl(config, 'metrics'), headers: signalHeaders(config, 'metrics'), timeoutMillis: config.otlp.timeout_ms };
  switch (signalProtocol(config, 'metrics')) {
    case 'grpc': return new OTLPMetricExporterGrpc(grpcOptions(opts));
    case 'http/json': return new OTLPMetricExporterJson(opts);
    default: return new OTLPMetricExporterProto(opts);
  }
}

function spanExporter(config: Config): SpanExporter {
  const opts = { url: signalUrl(config, 'traces'), headers: signalHeaders(config, 'traces'), timeoutMillis: config.otlp.timeout_ms };
  switch (signalProtocol(config, 'traces')) {
    case 'grpc': return new OTLPTraceExporterGrpc(grpcOptions(opts));
    case 'http/json': return new OTLPTraceExporterJson(opts);
    default: return new OTLPTraceExporterProto(opts);
  }
}

/**
 * The text of one diagnostic argument: an Error's message; the SDK's global error handler passes
 * errors JSON-flattened (stack included), so those are reduced to their message too.
 */
function diagText(x: unknown): string {
  if (x instanceof Error) return x.message;
  if (typeof x !== 'string') return '';
  if (x.startsWith('{')) {
    try {
      const o = JSON.parse(x) as { message?: unknown };
      if (typeof o.message === 'string') return o.message;
    } catch { /* not JSON after all */ }
  }
  return x;
}

/** Network failures in plain words; the code stays in the line for a search. */
const NETWORK_CAUSES: Array<[RegExp, string]> = [
  [/ECONNREFUSED/, 'connection refused (ECONNREFUSED): nothing listens there'],
  [/ENOTFOUND|Name resolution failed/, 'unknown host (ENOTFOUND)'],
  [/EAI_AGAIN/, 'the host name could not be resolved now (EAI_AGAIN)'],
  [/E(HOST|NET)UNREACH/, 'no route to the host (EHOSTUNREACH)'],
  [/ECONNRESET|socket hang up/, 'the connection was reset (ECONNRESET)'],
  [/timed? ?out|did not answer within|DEADLINE_EXCEEDED/i, 'no answer in time (timed out)'],
];

/**
 * An export failure as the user needs it: which backend, why, and that nothing stops: the probes
 * carry on, metrics are cumulative (the next export carries the totals), spans wait in the
 * bounded queue. Other diagnostics pass as the SDK wrote them.
 */
export function explainExportFailure(text: string, urls: { metrics: string; traces: string }, timeoutMs: number): string {
  const signal = /metrics export (failed|timed out)/i.test(text) ? 'metrics' : /span export failed/i.test(text) ? 'traces' : undefined;
  const cause = NETWORK_CAUSES.find(([re]) => re.test(text))?.[1];
  if (!signal || !cause) return text;
  const reason = cause.startsWith('no answer') ? `no answer within ${/after (\d+) ?ms/.exec(text)?.[1] ?? timeoutMs} ms (timed out)` : cause;
  const kept = signal === 'metrics'
    ? 'the next export sends the totals again'
    : 'spans stay queued (otlp.max_queue_size; the oldest dropped and counted when full) and are sent again';
  return `cannot export ${signal} to ${urls[signal]}: ${reason}; the probes carry on and ${kept} (logged again at most once a minute)`;
}

/** Routes the SDK's own diagnostics (export failures) to our log: one line each, once per distinct message a minute. */
function routeDiagnostics(log: Logger, explain: (text: string) => string): void {
  const lastSeen = new Map<string, number>();
  const once = (level: 'warn' | 'error') => (msg: string, ...args: unknown[]) => {
    const detail = args.map(diagText).filter(Boolean).join(' ');
    const line = `otel: ${explain(`${diagText(msg)}${detail ? ` ${detail}` : ''}`.replace(/\s+/g, ' ').trim())}`.slice(0, 400);
    const now = Date.now();
    if ((lastSeen.get(line) ?? 0) > now - 60_000) return;
    lastSeen.set(line, now);
    log.warn(line);
  };
  diag.setLogger(
    { error: once('error'), warn: once('warn'), info: () => {}, debug: () => {}, verbose: () => {} },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}

export async function startTelemetry(config: Config, log: Logger): Promise<Telemetry> {
  routeDiagnostics(log, (text) => explainExportFailure(text, { metrics: signalUrl(config, 'metrics'), traces: signalUrl(config, 'traces') }, config.otlp.timeout_ms));
  const resource = await buildResource({ serviceName: config.service.name, attributes: config.resource.attributes });
  const readers: MetricReader[] = [];
  const intervalMs = config.otlp.export_interval_ms || Math.round(config.interval * 1000);
  // Observable instruments report what their callbacks saw this time: exited processes go away.
  const observed = new ObservedInstruments(resource, { name: 'mem-watcher', version: SERVICE_VERSION });

  if (config.exporters.includes('otlp')) {
    readers.push(new PeriodicExportingMetricReader({
      exporter: metricExporter(config),
      exportIntervalMillis: intervalMs,
      exportTimeoutMillis: Math.min(config.otlp.timeout_ms, intervalMs),
      metricProducers: [observed],
    }));
  }
  let prometheus: PrometheusExporter | undefined;
  let promServer: PrometheusServer | undefined;
  if (config.exporters.includes('prometheus')) {
    prometheus = new PrometheusExporter({ host: config.prometheus.host, port: config.prometheus.port, preventServerStart: true, metricProducers: [observed] });
    try {
      promServer = await servePrometheus(prometheus, config.prometheus.host, config.prometheus.port);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Only a port in use is fixed by another port; an unknown or foreign address by the host.
      const fix = code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL'
        ? 'set prometheus.host (MEMWATCHER_PROMETHEUS_HOST) to an address of this machine (0.0.0.0 for all)'
        : 'set prometheus.port (MEMWATCHER_PROMETHEUS_PORT) to a free port';
      throw new TelemetryStartError(`cannot serve Prometheus metrics on ${config.prometheus.host}:${config.prometheus.port} (${code ?? (err as Error).message}): ${fix}`);
    }
    readers.push(prometheus);
  }

  const meterProvider = new MeterProvider({ resource, readers });
  const meter = observed.meter(meterProvider.getMeter('mem-watcher', SERVICE_VERSION));
  let tracerProvider: TracerProvider | undefined;
  if (tracesEnabled(config)) {
    // Our own queue, not the SDK's BatchSpanProcessor: bounded, oldest dropped, every loss counted.
    const spans = new BoundedSpanProcessor({
      exporter: spanExporter(config),
      maxQueueSize: config.otlp.max_queue_size,
      maxExportBatchSize: 512,
      scheduledDelayMillis: Math.min(5000, intervalMs),
      // The exporter retries within timeout_ms; a little more lets its own answer arrive first.
      exportTimeoutMillis: config.otlp.timeout_ms + 1000,
      onDrop: (n, reason) => log.warn(`otel: dropping spans: ${reason} (${n} now, more until the backend catches up; all counted in ${METRIC.TELEMETRY_DROPPED})`),
    });
    meter.createObservableCounter(METRIC.TELEMETRY_DROPPED, { unit: UNIT.SPANS, description: 'Spans lost on the way to the backend: oldest pushed out of the full export queue, rejected, or unsent at stop' })
      .addCallback((r) => r.observe(spans.dropped));
    tracerProvider = new TracerProvider({ resource, spanProcessors: [spans] });
  }

  const bounded = async (p: Promise<unknown>) => {
    // A backend that is down must not hold the stop: the deadline is the user's, not the exporter's.
    const deadline = config.otlp.shutdown_timeout_ms;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), deadline); });
    const outcome = await Promise.race([p.catch((err) => log.warn(`otel: ${(err as Error).message}`)), late]);
    clearTimeout(timer);
    if (outcome === 'late') log.warn(`otel: the final export did not finish within otlp.shutdown_timeout_ms (${deadline} ms): stopping without it`);
  };

  return {
    meter,
    tracer: tracerProvider?.getTracer('mem-watcher', SERVICE_VERSION),
    resource,
    flush: async () => {
      await bounded(Promise.all([meterProvider.forceFlush(), tracerProvider?.forceFlush()]));
    },
    shutdown: async () => {
      await bounded(Promise.all([meterProvider.shutdown(), tracerProvider?.shutdown(), promServer?.close()]));
    },
  };
}
