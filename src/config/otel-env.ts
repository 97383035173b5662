// The standard OpenTelemetry variables, mapped onto our keys. A MEMWATCHER_* variable for the
// same key wins: it is the more specific of the two.

/** OTEL variable -> config key path. */
export const OTEL_ENV_KEYS: ReadonlyArray<readonly [string, string]> = [
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
  ['OTEL_METRIC_EXPORT_INTERVAL', 'otlp.export_interval_ms'],
  ['OTEL_METRICS_EXPORTER', 'exporters'],
  ['OTEL_TRACES_EXPORTER', 'traces.exporter'],
  ['OTEL_BSP_MAX_QUEUE_SIZE', 'otlp.max_queue_size'],
  ['OTEL_EXPORTER_PROMETHEUS_HOST', 'prometheus.host'],
  ['OTEL_EXPORTER_PROMETHEUS_PORT', 'prometheus.port'],
];

/**
 * Variables of the SDK spec (general, OTLP exporter, batch span processor, periodic reader,
 * Prometheus exporter sections) that mem-watcher does not honour yet. Set, they are refused:
 * ignoring one would leave the user believing it took effect.
 */
export const OTEL_ENV_UNSUPPORTED: readonly string[] = [
  'OTEL_SDK_DISABLED',
  'OTEL_LOG_LEVEL',
  'OTEL_PROPAGATORS',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT',
  'OTEL_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT',
  'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_SPAN_EVENT_COUNT_LIMIT',
  'OTEL_SPAN_LINK_COUNT_LIMIT',
  'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_METRIC_EXPORT_TIMEOUT',
  'OTEL_METRICS_EXEMPLAR_FILTER',
  'OTEL_BSP_SCHEDULE_DELAY',
  'OTEL_BSP_EXPORT_TIMEOUT',
  'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
  'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT',
  'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT',
  'OTEL_EXPORTER_OTLP_INSECURE',
  'OTEL_EXPORTER_OTLP_METRICS_INSECURE',
  'OTEL_EXPORTER_OTLP_TRACES_INSECURE',
  'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
  'OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION',
  'OTEL_LOGS_EXPORTER',
];

/**
 * Values as they reach the schema. OTEL_TRACES_EXPORTER is a list in the spec; spans go to one
 * place here, so repeats collapse and a list of two destinations is refused by the schema.
 */
export function translateOtelValue(variable: string, value: string): string {
  if (variable === 'OTEL_TRACES_EXPORTER') return [...new Set(value.split(',').map((v) => v.trim()).filter(Boolean))].join(',');
  return value;
}

/**
 * Variables the SDK's OTLP exporters read themselves (compression, TLS files): honoured as the SDK
 * does, and listed by --print-config with their values so a user sees they took effect.
 */
export const OTEL_ENV_READ_BY_EXPORTERS: readonly string[] = ['', 'METRICS_', 'TRACES_'].flatMap((signal) =>
  ['COMPRESSION', 'CERTIFICATE', 'CLIENT_KEY', 'CLIENT_CERTIFICATE'].map((v) => `OTEL_EXPORTER_OTLP_${signal}${v}`));
