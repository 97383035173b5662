// The configuration schema: every key, its default, its validation and its environment
// variable (MEMWATCHER_ + the key path in upper case). Loading and precedence live in load.ts.
import { isIP } from 'node:net';
import convict from 'convict';

export const EXPORTERS = ['console', 'otlp', 'prometheus', 'none'] as const;
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
/** The OTel SDK's OTEL_LOG_LEVEL values, and auto (ours: info, debug with verbose). */
export const LOG_LEVELS = ['auto', 'none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'] as const;

function intList(min: number, what: string) {
  return {
    name: `${what}-list`,
    validate(v: unknown) {
      if (!Array.isArray(v)) throw new Error(`must be a list of ${what}s`);
      for (const x of v) {
        if (!Number.isSafeInteger(x) || (x as number) < min) throw new Error(`${JSON.stringify(x)} is not a ${what} (an integer >= ${min})`);
      }
    },
    coerce(v: unknown) {
      const parts = Array.isArray(v) ? v : String(v).split(',').map((s) => s.trim()).filter((s) => s !== '');
      // A pid named twice is one target (-l 42 -l 42 attached three sets of uprobes).
      return [...new Set(parts.map((p) => (typeof p === 'string' && /^\d+$/.test(p) ? Number(p) : p)))];
    },
  };
}

convict.addFormat(intList(1, 'pid'));
convict.addFormat({
  name: 'string-list',
  validate(v: unknown) {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) throw new Error('must be a list of non-empty strings');
  },
  coerce: (v: unknown) => (Array.isArray(v) ? v : String(v).split(',').map((s) => s.trim()).filter((s) => s !== '')),
});
convict.addFormat({
  name: 'exporter-list',
  validate(v: unknown) {
    if (!Array.isArray(v) || v.length === 0) throw new Error(`must name at least one of ${EXPORTERS.join(', ')}`);
    for (const x of v) if (!(EXPORTERS as readonly unknown[]).includes(x)) throw new Error(`${JSON.stringify(x)} is not an exporter (one of ${EXPORTERS.join(', ')})`);
  },
  coerce: (v: unknown) => (Array.isArray(v) ? v : String(v).split(',').map((s) => s.trim()).filter((s) => s !== '')),
});
/**
 * A named format per range, with its own coercion: convict's default reads a number with
 * parseFloat, so "5abc" was 5 and "1,5" was 1. Only a whole numeral is a number here.
 */
function range(min: number, max: number, integer: boolean): string {
  const name = `${integer ? 'integer' : 'number'} ${min}..${max}`;
  if (!RANGES.has(name)) {
    RANGES.add(name);
    convict.addFormat({
      name,
      validate(v: unknown) {
        if (typeof v !== 'number' || Number.isNaN(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
          throw new Error(`must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
        }
      },
      coerce: (v: unknown) => (typeof v === 'string' && NUMERAL.test(v) ? Number(v) : v),
    });
  }
  return name;
}
const RANGES = new Set<string>();
const NUMERAL = /^\s*-?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?\s*$/i;
function oneOf(values: readonly string[]) {
  return values as string[];
}

// convict's Boolean turns any string but "false" into true (MEMWATCHER_PROBES_SYSSTAT_ENABLED=0
// enabled the probe): only the usual spellings are accepted.
const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);
convict.addFormat({
  name: 'strict-boolean',
  validate(v: unknown) {
    if (typeof v !== 'boolean') throw new Error('must be true or false (also 1/0, yes/no, on/off)');
  },
  coerce(v: unknown) {
    const t = String(v).trim().toLowerCase();
    return TRUE.has(t) ? true : FALSE.has(t) ? false : v;
  },
});
// convict's port takes parseInt's reading ("1e308" became port 1) and port 0.
convict.addFormat({
  name: 'tcp-port',
  validate(v: unknown) {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) throw new Error('must be a port number from 1 to 65535');
  },
  coerce: (v: unknown) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
});
function httpUrl(v: unknown, optional: boolean): void {
  if (optional && v === '') return;
  let url: URL | undefined;
  try {
    url = new URL(String(v));
  } catch { /* reported below */ }
  if (typeof v !== 'string' || !url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new Error(`must be an http:// or https:// URL${optional ? ' (or empty)' : ''}`);
  }
}
convict.addFormat({ name: 'http-url', validate: (v: unknown) => httpUrl(v, false) });
convict.addFormat({ name: 'optional-http-url', validate: (v: unknown) => httpUrl(v, true) });
convict.addFormat({
  name: 'host',
  validate(v: unknown) {
    const hostname = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
    if (typeof v !== 'string' || (isIP(v) === 0 && !hostname.test(v))) throw new Error('must be an IP address or a host name (127.0.0.1 keeps it local)');
  },
});
convict.addFormat({
  name: 'non-empty-string',
  validate(v: unknown) {
    if (typeof v !== 'string' || v.trim() === '') throw new Error('must be a non-empty string');
  },
});
// key=value,key2=value2 (headers, resource attributes). Errors name the entry by position,
// never by content: header values are secrets.
convict.addFormat({
  name: 'key-value-list',
  validate(v: unknown) {
    if (typeof v !== 'string') throw new Error('must be a string of key=value pairs separated by commas');
    const parts = v.split(',');
    parts.forEach((part, i) => {
      if (part.trim() !== '' && part.indexOf('=') <= 0) throw new Error(`has an entry (number ${i + 1} of ${parts.length}) that is not key=value: write key=value,key2=value2`);
    });
  },
});

// OTLP headers: key=value pairs whose names are HTTP tokens and whose values (percent-decoded,
// as the spec encodes them) hold no CR, LF or NUL. Accepted, such a header fails every export.
convict.addFormat({
  name: 'header-list',
  validate(v: unknown) {
    if (typeof v !== 'string') throw new Error('must be a string of key=value pairs separated by commas');
    const parts = v.split(',');
    parts.forEach((part, i) => {
      if (part.trim() === '') return;
      const at = `entry number ${i + 1} of ${parts.length}`;
      const eq = part.indexOf('=');
      if (eq <= 0) throw new Error(`has an entry (number ${i + 1} of ${parts.length}) that is not key=value: write key=value,key2=value2`);
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(part.slice(0, eq).trim())) throw new Error(`has a header name that is not an HTTP token (${at}): use letters, digits and -`);
      let value = part.slice(eq + 1);
      try {
        value = decodeURIComponent(value);
      } catch { /* kept as written, as the exporter does */ }
      if (/[\r\n\0]/.test(value)) throw new Error(`has a header value with a line break or NUL (${at}): remove it`);
    });
  },
});

/** The config object a schema describes: each leaf's type is its default's. */
export type Infer<S> = { -readonly [K in keyof S]: S[K] extends { default: infer D } ? Widen<D> : Infer<S[K]> };
type Widen<D> = D extends string ? string : D extends number ? number : D extends boolean ? boolean : D;

/** probes.<name>.enabled */
export function enabledOption(doc: string, on = true) {
  return { doc, format: 'strict-boolean', default: on };
}

/** probes.<name>.strategy: 'auto' or one of the strategy names. */
export function strategyOption(probe: string, strategies: readonly string[]) {
  return {
    doc: `Attach strategy for ${probe}: auto tries the probe's hooks in order; a name forces one`,
    format: oneOf(['auto', ...strategies]),
    default: 'auto',
  };
}

/** Helpers for a probe's own keys. */
export const formats = { range, oneOf };

/** Every key but the probes' (each probe module brings its own part: probes.<name>.*). */
export const CORE_SCHEMA = {
  exporters: {
    doc: 'Where telemetry goes: console (live tables), otlp, prometheus, none',
    format: 'exporter-list',
    default: ['console'] as Array<(typeof EXPORTERS)[number]>,
  },
  interval: {
    doc: 'Report period in seconds: sampling, console refresh and metric export',
    format: range(0.1, 86400, false),
    default: 5,
  },
  duration: {
    doc: 'Stop cleanly after this many seconds (0: run until SIGINT/SIGTERM)',
    format: range(0, 31536000, false),
    default: 0,
  },
  verbose: { doc: 'Debug logging, libbpf log and stack traces', format: 'strict-boolean', default: false },
  log: {
    level: { doc: 'Log level, also of the OpenTelemetry SDK\'s diagnostics: auto (info; debug with verbose), none, error, warn, info, debug, verbose, all', format: oneOf(LOG_LEVELS), default: 'auto' },
  },
  sdk: {
    disabled: { doc: 'No OpenTelemetry export at all (OTLP and Prometheus /metrics); probes, console and health carry on', format: 'strict-boolean', default: false },
  },
  otlp: {
    endpoint: { doc: 'OTLP base URL (empty: http://localhost:4318, or http://localhost:4317 for grpc); over HTTP /v1/metrics and /v1/traces are appended', format: 'optional-http-url', default: '' },
    protocol: { doc: 'OTLP transport and encoding: http/protobuf, http/json or grpc', format: oneOf(OTLP_PROTOCOLS), default: 'http/protobuf' },
    metrics_protocol: { doc: 'OTLP protocol for metrics (auto: protocol)', format: oneOf(['auto', ...OTLP_PROTOCOLS]), default: 'auto' },
    traces_protocol: { doc: 'OTLP protocol for traces (auto: protocol)', format: oneOf(['auto', ...OTLP_PROTOCOLS]), default: 'auto' },
    headers: { doc: 'Headers sent with every export: key=value,key2=value2', format: 'header-list', default: '', sensitive: true },
    timeout_ms: { doc: 'Timeout of one export request', format: range(1, 600000, true), default: 10000 },
    metrics_timeout_ms: { doc: 'Timeout of one metrics export request (0: timeout_ms)', format: range(0, 600000, true), default: 0 },
    traces_timeout_ms: { doc: 'Timeout of one traces export request (0: timeout_ms)', format: range(0, 600000, true), default: 0 },
    shutdown_timeout_ms: { doc: 'Longest a stop waits for the final export, with the backend down or hanging (probes are detached first; a second SIGINT/SIGTERM stops at once, unflushed)', format: range(1, 600000, true), default: 5000 },
    metrics_endpoint: { doc: 'Full URL for metrics (overrides endpoint)', format: 'optional-http-url', default: '' },
    traces_endpoint: { doc: 'Full URL for traces (overrides endpoint)', format: 'optional-http-url', default: '' },
    metrics_headers: { doc: 'Headers for metric exports only', format: 'header-list', default: '', sensitive: true },
    traces_headers: { doc: 'Headers for trace exports only', format: 'header-list', default: '', sensitive: true },
    export_interval_ms: { doc: 'Metric export period (0: the report interval)', format: range(0, 86400000, true), default: 0 },
    metric_export_timeout_ms: { doc: 'Time one metric collection and export may take, retries included (0: the metrics request timeout; at most the export interval)', format: range(0, 86400000, true), default: 0 },
    max_queue_size: { doc: 'Spans buffered while the backend is slow or down (oldest dropped and counted)', format: range(1, 1000000, true), default: 2048 },
    max_export_batch_size: { doc: 'Spans sent in one export at most (no more than max_queue_size)', format: range(1, 1000000, true), default: 512 },
    schedule_delay_ms: { doc: 'Delay between two span exports (0: 5000, or the export interval when shorter)', format: range(0, 86400000, true), default: 0 },
    span_export_timeout_ms: { doc: 'Time one span export may take, retries included (0: the traces request timeout + 1000)', format: range(0, 600000, true), default: 0 },
  },
  traces: {
    exporter: { doc: 'Where spans go: auto (otlp when otlp is an exporter), otlp, console, none', format: oneOf(['auto', 'otlp', 'console', 'none']), default: 'auto' },
    attribute_value_length_limit: { doc: 'Longest span attribute value in characters; longer ones are truncated (0: no limit)', format: range(0, 1000000000, true), default: 0 },
    attribute_count_limit: { doc: 'Attributes per span; more are dropped (and counted in the span)', format: range(0, 1000000, true), default: 128 },
    event_count_limit: { doc: 'Events per span; more are dropped', format: range(0, 1000000, true), default: 128 },
    link_count_limit: { doc: 'Links per span; more are dropped', format: range(0, 1000000, true), default: 128 },
    event_attribute_count_limit: { doc: 'Attributes per span event', format: range(0, 1000000, true), default: 128 },
    link_attribute_count_limit: { doc: 'Attributes per span link', format: range(0, 1000000, true), default: 128 },
  },
  prometheus: {
    host: { doc: 'Address the Prometheus endpoint binds (127.0.0.1 keeps it local)', format: 'host', default: '0.0.0.0' },
    port: { doc: 'Port of the Prometheus endpoint (/metrics)', format: 'tcp-port', default: 9464 },
  },
  health: {
    port: { doc: 'Port of /healthz and /readyz, bound on prometheus.host (0: the Prometheus port, served when prometheus is an exporter)', format: range(0, 65535, true), default: 0 },
    export_failure_s: { doc: '/readyz answers 503 once exports have failed for this many seconds in a row (0: export failures never make it unready)', format: range(0, 86400, false), default: 60 },
  },
  service: {
    name: { doc: 'service.name resource attribute', format: 'non-empty-string', default: 'mem-watcher' },
  },
  resource: {
    attributes: { doc: 'Extra resource attributes: key=value,key2=value2', format: 'key-value-list', default: '' },
  },
};

export type CoreConfig = Infer<typeof CORE_SCHEMA>;

/** Environment variable of a key path: otlp.endpoint -> MEMWATCHER_OTLP_ENDPOINT. */
export function envName(path: string): string {
  return 'MEMWATCHER_' + path.toUpperCase().replace(/\./g, '_');
}

/** Every leaf key path of the schema, in schema order. */
export function keyPaths(node: object, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(node) as Array<[string, unknown]>) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && 'doc' in v) out.push(path);
    else out.push(...keyPaths(v as object, path));
  }
  return out;
}

/** The schema with an env variable attached to every key (convict reads them). */
export function schemaWithEnv(schema: object): Record<string, unknown> {
  const clone = deepClone(schema) as Record<string, unknown>;
  for (const path of keyPaths(schema)) {
    let node: Record<string, unknown> = clone;
    for (const part of path.split('.')) node = node[part] as Record<string, unknown>;
    node.env = envName(path);
  }
  return clone;
}

function deepClone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(deepClone);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deepClone(x)]));
  return v; // primitives and functions (format validators) are shared
}

export { convict };
