// The configuration schema: every key, its default, its validation and its environment
// variable (MEMWATCHER_ + the key path in upper case). Loading and precedence live in load.ts.
import { isIP } from 'node:net';
import convict from 'convict';

const STRATEGIES = ['auto', 'iter', 'uprobe', 'kprobe', 'fentry', 'tracepoint', 'tp_btf'] as const;
export const EXPORTERS = ['console', 'otlp', 'prometheus', 'none'] as const;
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;

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
      return parts.map((p) => (typeof p === 'string' && /^\d+$/.test(p) ? Number(p) : p));
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

const strategy = (probe: string) => ({
  doc: `Attach strategy for ${probe}: auto tries the probe's hooks in order; a name forces one`,
  format: oneOf(STRATEGIES),
  default: 'auto',
});

export const schema = {
  exporters: {
    doc: 'Where telemetry goes: console (live tables), otlp, prometheus, none',
    format: 'exporter-list',
    default: ['console'],
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
  probes: {
    sysstat: {
      enabled: { doc: 'Run the system memory probe', format: 'strict-boolean', default: true },
      strategy: strategy('sysstat'),
    },
    procstat: {
      enabled: { doc: 'Run the per-process memory probe', format: 'strict-boolean', default: true },
      strategy: strategy('procstat'),
      pids: { doc: 'Always report these processes (besides the top N)', format: 'pid-list', default: [] as number[] },
      comms: { doc: 'Always report processes with these command names', format: 'string-list', default: [] as string[] },
      top: { doc: 'Report the N processes with the largest RSS', format: range(1, 100000, true), default: 50 },
      max_processes: { doc: 'Processes tracked in the kernel map (bounds its memory)', format: range(64, 4194304, true), default: 32768 },
    },
    paf: {
      enabled: { doc: 'Run the page allocation failure probe', format: 'strict-boolean', default: true },
      strategy: strategy('paf'),
      span_rate_limit: { doc: 'At most this many page_alloc.failure spans per second (excess counted)', format: range(0, 100000, true), default: 10 },
    },
    pr: {
      enabled: { doc: 'Run the page reclaim probe', format: 'strict-boolean', default: true },
      strategy: strategy('pr'),
    },
    memleak: {
      pids: { doc: 'Trace allocations of these processes (enables memleak)', format: 'pid-list', default: [] as number[] },
      command: { doc: 'Run this command (argv, not a shell) under trace', format: 'string-list', default: [] as string[] },
      lib: { doc: 'Allocator library to attach to instead of the libc the process maps', format: String, default: '' },
      symbol_prefix: { doc: 'Prefix of the allocator symbols (je_ for jemalloc built with a prefix)', format: String, default: '' },
      top: { doc: 'Report the N stacks with the most outstanding bytes', format: range(1, 100000, true), default: 10 },
      min_size: { doc: 'Ignore allocations smaller than this many bytes', format: range(0, Number.MAX_SAFE_INTEGER, true), default: 0 },
      max_size: { doc: 'Ignore allocations larger than this many bytes (0: no limit)', format: range(0, Number.MAX_SAFE_INTEGER, true), default: 0 },
      min_age_ms: { doc: 'Report only allocations older than this many milliseconds', format: range(0, 86400000, true), default: 0 },
      sample_rate: { doc: 'Trace one allocation in N', format: range(1, 1000000, true), default: 1 },
      combined_only: { doc: 'Keep only per-stack totals (no per-address ages)', format: 'strict-boolean', default: false },
      trace: { doc: 'Print every allocation and free', format: 'strict-boolean', default: false },
      kernel: { doc: 'Trace kernel allocations (kmalloc, kmem_cache, pages) instead', format: 'strict-boolean', default: false },
      stack_map_size: { doc: 'Distinct stacks the kernel keeps', format: range(64, 4194304, true), default: 16384 },
      max_allocations: { doc: 'Outstanding allocations tracked per run', format: range(1024, 16777216, true), default: 1000000 },
      report_count: { doc: 'Stop after this many reports (0: no limit)', format: range(0, 1000000, true), default: 0 },
      pprof: { doc: 'Write the outstanding allocations as a gzipped pprof profile here', format: String, default: '' },
      command_line_max: { doc: 'Characters of a traced process\'s command line kept in process.command_line (0: none)', format: range(0, 65536, true), default: 512 },
    },
  },
  otlp: {
    endpoint: { doc: 'OTLP/HTTP base URL (/v1/metrics and /v1/traces are appended)', format: 'http-url', default: 'http://localhost:4318' },
    protocol: { doc: 'OTLP encoding', format: oneOf(OTLP_PROTOCOLS), default: 'http/protobuf' },
    headers: { doc: 'Headers sent with every export: key=value,key2=value2', format: 'key-value-list', default: '', sensitive: true },
    timeout_ms: { doc: 'Timeout of one export request', format: range(1, 600000, true), default: 10000 },
    metrics_endpoint: { doc: 'Full URL for metrics (overrides endpoint)', format: 'optional-http-url', default: '' },
    traces_endpoint: { doc: 'Full URL for traces (overrides endpoint)', format: 'optional-http-url', default: '' },
    metrics_headers: { doc: 'Headers for metric exports only', format: 'key-value-list', default: '', sensitive: true },
    traces_headers: { doc: 'Headers for trace exports only', format: 'key-value-list', default: '', sensitive: true },
    export_interval_ms: { doc: 'Metric export period (0: the report interval)', format: range(0, 86400000, true), default: 0 },
    max_queue_size: { doc: 'Spans buffered while the backend is slow or down (oldest dropped and counted)', format: range(1, 1000000, true), default: 2048 },
  },
  traces: {
    exporter: { doc: 'Where spans go: auto (otlp when otlp is an exporter), otlp, console, none', format: oneOf(['auto', 'otlp', 'console', 'none']), default: 'auto' },
  },
  prometheus: {
    host: { doc: 'Address the Prometheus endpoint binds (127.0.0.1 keeps it local)', format: 'host', default: '0.0.0.0' },
    port: { doc: 'Port of the Prometheus endpoint (/metrics)', format: 'tcp-port', default: 9464 },
  },
  service: {
    name: { doc: 'service.name resource attribute', format: 'non-empty-string', default: 'mem-watcher' },
  },
  resource: {
    attributes: { doc: 'Extra resource attributes: key=value,key2=value2', format: 'key-value-list', default: '' },
  },
};

export interface Config {
  exporters: Array<(typeof EXPORTERS)[number]>;
  interval: number;
  duration: number;
  verbose: boolean;
  probes: {
    sysstat: { enabled: boolean; strategy: string };
    procstat: { enabled: boolean; strategy: string; pids: number[]; comms: string[]; top: number; max_processes: number };
    paf: { enabled: boolean; strategy: string; span_rate_limit: number };
    pr: { enabled: boolean; strategy: string };
    memleak: {
      pids: number[]; command: string[]; lib: string; symbol_prefix: string; top: number;
      min_size: number; max_size: number; min_age_ms: number; sample_rate: number;
      combined_only: boolean; trace: boolean; kernel: boolean; stack_map_size: number;
      max_allocations: number; report_count: number; pprof: string; command_line_max: number;
    };
  };
  otlp: {
    endpoint: string; protocol: (typeof OTLP_PROTOCOLS)[number]; headers: string; timeout_ms: number;
    metrics_endpoint: string; traces_endpoint: string; metrics_headers: string; traces_headers: string;
    export_interval_ms: number; max_queue_size: number;
  };
  traces: { exporter: 'auto' | 'otlp' | 'console' | 'none' };
  prometheus: { host: string; port: number };
  service: { name: string };
  resource: { attributes: string };
}

/** Environment variable of a key path: probes.memleak.pids -> MEMWATCHER_PROBES_MEMLEAK_PIDS. */
export function envName(path: string): string {
  return 'MEMWATCHER_' + path.toUpperCase().replace(/\./g, '_');
}

/** Every leaf key path of the schema, in schema order. */
export function keyPaths(node: Record<string, unknown> = schema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && 'doc' in v) out.push(path);
    else out.push(...keyPaths(v as Record<string, unknown>, path));
  }
  return out;
}

/** The schema with an env variable attached to every key (convict reads them). */
export function schemaWithEnv(): Record<string, unknown> {
  const clone = deepClone(schema) as Record<string, unknown>;
  for (const path of keyPaths()) {
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
