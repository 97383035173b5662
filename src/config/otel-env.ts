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
];

/** Values as they reach the schema, e.g. OTEL_METRICS_EXPORTER's "none" list. */
export function translateOtelValue(variable: string, value: string): string {
  if (variable === 'OTEL_TRACES_EXPORTER') return value.split(',')[0]!.trim();
  return value;
}
