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
import type { Route } from './http-server.ts';
import { ExportHealth } from './export-health.ts';
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
  /** The Prometheus scrape handler, when prometheus is an exporter (served with /healthz and /readyz). */
  prometheus?: Route;
  /** Results of the push exporters (OTLP metrics and traces). */
  exportHealth: ExportHealth;
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

/** One request's timeout: the per-signal variable, else OTEL_EXPORTER_OTLP_TIMEOUT's key. */
function requestTimeout(config: Config, signal: 'metrics' | 'traces'): number {
  return (signal === 'metrics' ? config.otlp.metrics_timeout_ms : config.otlp.traces_timeout_ms) || config.otlp.timeout_ms;
}

function metricExporter(config: Config): PushMetricExporter {
  const opts = { url: signalUrl(config, 'metrics'), headers: signalHeaders(config, 'metrics'), timeoutMillis: requestTimeout(config, 'metrics') };
  switch (signalProtocol(config, 'metrics')) {
    case 'grpc': return new OTLPMetricExporterGrpc(grpcOptions(opts));
    case 'http/json': return new OTLPMetricExporterJson(opts);
    default: return new OTLPMetricExporterProto(opts);
  }
}

function spanExporter(config: Config): SpanExporter {
  const opts = { url: signalUrl(config, 'traces'), headers: signalHeaders(config, 'traces'), timeoutMillis: requestTimeout(config, 'traces') };
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

/** OTEL_LOG_LEVEL's names as the diag logger's levels; auto keeps the SDK's warnings and errors. */
const DIAG_LEVEL: Record<string, DiagLogLevel> = {
  auto: DiagLogLevel.WARN, none: DiagLogLevel.NONE, error: DiagLogLevel.ERROR, warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO, debug: DiagLogLevel.DEBUG, verbose: DiagLogLevel.VERBOSE, all: DiagLogLevel.ALL,
};

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
export function explainExportFailure(text: string, urls: { metrics: string; traces: string }, timeoutsMs: { metrics: number; traces: number }): string {
  const signal = /metrics export (failed|timed out)/i.test(text) ? 'metrics' : /span export failed/i.test(text) ? 'traces' : undefined;
  const cause = NETWORK_CAUSES.find(([re]) => re.test(text))?.[1];
  if (!signal || !cause) return text;
  // A bound the message names (the reader's, the span processor's), else the request's own.
  const reason = cause.startsWith('no answer') ? `no answer within ${/(?:after|within) (\d+) ?ms/.exec(text)?.[1] ?? timeoutsMs[signal]} ms (timed out)` : cause;
  const kept = signal === 'metrics'
    ? 'the next export sends the totals again'
    : 'spans stay queued (otlp.max_queue_size; the oldest dropped and counted when full) and are sent again';
  return `cannot export ${signal} to ${urls[signal]}: ${reason}; the probes carry on and ${kept} (logged again at most once a minute)`;
}

/** Routes the SDK's own diagnostics (export failures) to our log: one line each, once per distinct message a minute. */
function routeDiagnostics(log: Logger, level: string, explain: (text: string) => string): void {
  const lastSeen = new Map<string, number>();
  const once = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, ...args: unknown[]) => {
    const detail = args.map(diagText).filter(Boolean).join(' ');
    const line = `otel: ${explain(`${diagText(msg)}${detail ? ` ${detail}` : ''}`.replace(/\s+/g, ' ').trim())}`.slice(0, 400);
    const now = Date.now();
    if ((lastSeen.get(line) ?? 0) > now - 60_000) return;
    lastSeen.set(line, now);
    log[level](line);
  };
  diag.setLogger(
    { error: once('error'), warn: once('warn'), info: once('info'), debug: once('debug'), verbose: once('debug') },
    { logLevel: DIAG_LEVEL[level] ?? DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}

export async function startTelemetry(config: Config, log: Logger): Promise<Telemetry> {
  routeDiagnostics(log, config.log.level, (text) => explainExportFailure(text, { metrics: signalUrl(config, 'metrics'), traces: signalUrl(config, 'traces') }, { metrics: requestTimeout(config, 'metrics'), traces: requestTimeout(config, 'traces') }));
  const exportHealth = new ExportHealth();
  const resource = await buildResource({ serviceName: config.service.name, attributes: config.resource.attributes });
  const readers: MetricReader[] = [];
  const intervalMs = config.otlp.export_interval_ms || Math.round(config.interval * 1000);
  // Observable instruments report what their callbacks saw this time: exited processes go away.
  const observed = new ObservedInstruments(resource, { name: 'mem-watcher', version: SERVICE_VERSION });

  if (config.exporters.includes('otlp')) {
    readers.push(new PeriodicExportingMetricReader({
      exporter: exportHealth.watch('otlp metrics', metricExporter(config)),
      exportIntervalMillis: intervalMs,
      // Longer than the interval is refused at load (the SDK would throw).
      exportTimeoutMillis: config.otlp.metric_export_timeout_ms || Math.min(requestTimeout(config, 'metrics'), intervalMs),
      metricProducers: [observed],
    }));
  }
  let prometheus: PrometheusExporter | undefined;
  if (config.exporters.includes('prometheus')) {
    prometheus = new PrometheusExporter({ host: config.prometheus.host, port: config.prometheus.port, preventServerStart: true, metricProducers: [observed] });
    readers.push(prometheus);
  }

  const meterProvider = new MeterProvider({ resource, readers });
  const meter = observed.meter(meterProvider.getMeter('mem-watcher', SERVICE_VERSION));
  let tracerProvider: TracerProvider | undefined;
  if (tracesEnabled(config)) {
    // Our own queue, not the SDK's BatchSpanProcessor: bounded, oldest dropped, every loss counted.
    const spans = new BoundedSpanProcessor({
      exporter: exportHealth.watch('otlp traces', spanExporter(config)),
      maxQueueSize: config.otlp.max_queue_size,
      maxExportBatchSize: config.otlp.max_export_batch_size,
      scheduledDelayMillis: config.otlp.schedule_delay_ms || Math.min(5000, intervalMs),
      // The exporter retries within its request timeout; a little more lets its own answer arrive first.
      exportTimeoutMillis: config.otlp.span_export_timeout_ms || requestTimeout(config, 'traces') + 1000,
      onDrop: (n, reason) => log.warn(`otel: dropping spans: ${reason} (${n} now, more until the backend catches up; all counted in ${METRIC.TELEMETRY_DROPPED})`),
    });
    meter.createObservableCounter(METRIC.TELEMETRY_DROPPED, { unit: UNIT.SPANS, description: 'Spans lost on the way to the backend: oldest pushed out of the full export queue, rejected, or unsent at stop' })
      .addCallback((r) => r.observe(spans.dropped));
    const t = config.traces;
    tracerProvider = new TracerProvider({
      resource,
      spanProcessors: [spans],
      spanLimits: {
        attributeValueLengthLimit: t.attribute_value_length_limit || Infinity,
        attributeCountLimit: t.attribute_count_limit,
        eventCountLimit: t.event_count_limit,
        linkCountLimit: t.link_count_limit,
        attributePerEventCountLimit: t.event_attribute_count_limit,
        attributePerLinkCountLimit: t.link_attribute_count_limit,
      },
    });
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
    prometheus: prometheus && ((req, res) => prometheus.getMetricsRequestHandler(req, res)),
    exportHealth,
    flush: async () => {
      await bounded(Promise.all([meterProvider.forceFlush(), tracerProvider?.forceFlush()]));
    },
    shutdown: async () => {
      await bounded(Promise.all([meterProvider.shutdown(), tracerProvider?.shutdown()]));
    },
  };
}
