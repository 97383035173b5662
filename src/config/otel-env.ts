// The standard OpenTelemetry variables, mapped onto our keys. A MEMWATCHER_* variable for the
// same key wins: it is the more specific of the two.

/** OTEL variable -> config key path. */
export const OTEL_ENV_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['OTEL_SDK_DISABLED', 'sdk.disabled'],
  ['OTEL_LOG_LEVEL', 'log.level'],
  ['OTEL_SERVICE_NAME', 'service.name'],
  ['OTEL_RESOURCE_ATTRIBUTES', 'resource.attributes'],
  ['OTEL_EXPORTER_OTLP_ENDPOINT', 'otlp.endpoint'],
  ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'otlp.metrics_endpoint'],
  ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'otlp.traces_endpoint'],
  ['OTEL_EXPORTER_OTLP_PROTOCOL', 'otlp.protocol'],
  ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'otlp.metrics_protocol'],
  ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'otlp.traces_protocol'],
  ['OTEL_EXPORTER_OTLP_HEADERS', 'otlp.headers'],
  ['OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'otlp.metrics_headers'],
  ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'otlp.traces_headers'],
  ['OTEL_EXPORTER_OTLP_TIMEOUT', 'otlp.timeout_ms'],
  ['OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', 'otlp.metrics_timeout_ms'],
  ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'otlp.traces_timeout_ms'],
  ['OTEL_METRIC_EXPORT_INTERVAL', 'otlp.export_interval_ms'],
  ['OTEL_METRIC_EXPORT_TIMEOUT', 'otlp.metric_export_timeout_ms'],
  ['OTEL_METRICS_EXPORTER', 'exporters'],
  ['OTEL_TRACES_EXPORTER', 'traces.exporter'],
  ['OTEL_BSP_MAX_QUEUE_SIZE', 'otlp.max_queue_size'],
  ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'otlp.max_export_batch_size'],
  ['OTEL_BSP_SCHEDULE_DELAY', 'otlp.schedule_delay_ms'],
  ['OTEL_BSP_EXPORT_TIMEOUT', 'otlp.span_export_timeout_ms'],
  // Spans are the only signal here with attribute limits (metrics are exempt in the spec), so
  // the general limits are the spans'; the span-specific variable, later in this list, wins.
  ['OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'traces.attribute_value_length_limit'],
  ['OTEL_ATTRIBUTE_COUNT_LIMIT', 'traces.attribute_count_limit'],
  ['OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'traces.attribute_value_length_limit'],
  ['OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'traces.attribute_count_limit'],
  ['OTEL_SPAN_EVENT_COUNT_LIMIT', 'traces.event_count_limit'],
  ['OTEL_SPAN_LINK_COUNT_LIMIT', 'traces.link_count_limit'],
  ['OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT', 'traces.event_attribute_count_limit'],
  ['OTEL_LINK_ATTRIBUTE_COUNT_LIMIT', 'traces.link_attribute_count_limit'],
  ['OTEL_EXPORTER_PROMETHEUS_HOST', 'prometheus.host'],
  ['OTEL_EXPORTER_PROMETHEUS_PORT', 'prometheus.port'],
];

/**
 * Variables of the SDK spec (general, OTLP exporter, batch span processor, periodic reader,
 * Prometheus exporter sections) that mem-watcher does not honour, each with why. Set, they are
 * refused: ignoring one would leave the user believing it took effect.
 */
const NO_LOGS = 'mem-watcher exports no OpenTelemetry logs (events are spans)';

export const OTEL_ENV_UNSUPPORTED: Readonly<Record<string, string>> = {
  OTEL_PROPAGATORS: 'mem-watcher starts every trace itself and propagates no context',
  OTEL_TRACES_SAMPLER: 'every span is a rare event (a kill, a failure, a report) and is kept; bound them with OTEL_BSP_MAX_QUEUE_SIZE',
  OTEL_TRACES_SAMPLER_ARG: 'every span is a rare event (a kill, a failure, a report) and is kept; bound them with OTEL_BSP_MAX_QUEUE_SIZE',
  OTEL_METRICS_EXEMPLAR_FILTER: 'no measurement is taken inside a sampled span, so there are no exemplars to filter',
  OTEL_EXPORTER_OTLP_INSECURE: 'for gRPC the endpoint\'s scheme decides: http:// is plain text, https:// TLS',
  OTEL_EXPORTER_OTLP_METRICS_INSECURE: 'for gRPC the endpoint\'s scheme decides: http:// is plain text, https:// TLS',
  OTEL_EXPORTER_OTLP_TRACES_INSECURE: 'for gRPC the endpoint\'s scheme decides: http:// is plain text, https:// TLS',
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'metrics are cumulative, as Prometheus and the dashboards expect',
  OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: 'the one histogram (reclaim stalls) has explicit buckets chosen for it',
  OTEL_LOGS_EXPORTER: NO_LOGS,
  OTEL_CONFIG_FILE: 'mem-watcher\'s config file is JSON, given with -c',
  OTEL_EXPERIMENTAL_CONFIG_FILE: 'mem-watcher\'s config file is JSON, given with -c',
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'spans go over OTLP; a Collector converts them to Zipkin',
  OTEL_EXPORTER_ZIPKIN_TIMEOUT: 'spans go over OTLP; a Collector converts them to Zipkin',
  ...Object.fromEntries([
    'OTEL_BLRP_SCHEDULE_DELAY', 'OTEL_BLRP_EXPORT_TIMEOUT', 'OTEL_BLRP_MAX_QUEUE_SIZE', 'OTEL_BLRP_MAX_EXPORT_BATCH_SIZE',
    'OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT',
    ...['ENDPOINT', 'HEADERS', 'TIMEOUT', 'PROTOCOL', 'COMPRESSION', 'CERTIFICATE', 'CLIENT_KEY', 'CLIENT_CERTIFICATE', 'INSECURE'].map((v) => `OTEL_EXPORTER_OTLP_LOGS_${v}`),
  ].map((v) => [v, NO_LOGS])),
};

/**
 * Values as they reach the schema. OTEL_TRACES_EXPORTER is a list in the spec; spans go to one
 * place here, so repeats collapse and a list of two destinations is refused by the schema.
 */
export function translateOtelValue(variable: string, value: string): string {
  if (variable === 'OTEL_TRACES_EXPORTER') return [...new Set(value.split(',').map((v) => v.trim()).filter(Boolean))].join(',');
  // The spec's booleans are true or false only (a 1 would be false there, true for MEMWATCHER_*).
  if (variable === 'OTEL_SDK_DISABLED') {
    const v = value.trim().toLowerCase();
    if (v !== 'true' && v !== 'false') throw new Error(`must be true or false, got ${JSON.stringify(value.slice(0, 40))}`);
    return v;
  }
  if (variable === 'OTEL_LOG_LEVEL') return value.trim().toLowerCase();
  return value;
}

/**
 * Variables the SDK's OTLP exporters read themselves (compression, TLS files): honoured as the SDK
 * does, and listed by --print-config with their values so a user sees they took effect.
 */
export const OTEL_ENV_READ_BY_EXPORTERS: readonly string[] = ['', 'METRICS_', 'TRACES_'].flatMap((signal) =>
  ['COMPRESSION', 'CERTIFICATE', 'CLIENT_KEY', 'CLIENT_CERTIFICATE'].map((v) => `OTEL_EXPORTER_OTLP_${signal}${v}`));
