// One normalized shape for OTLP metrics and spans, whichever wire format carried them.
//
// Input is an OTLP request in the OTLP/JSON shape: either a parsed JSON body or the output of
// otlp-protobuf.ts (same field names). Differences between the two are absorbed here:
//   - int64/fixed64 arrive as bigint (protobuf) or as decimal strings or numbers (JSON);
//   - trace and span ids arrive as bytes (protobuf) or as hex strings (JSON);
//   - bytes values arrive as bytes (protobuf) or base64 strings (JSON);
//   - enums arrive as numbers, or (lenient JSON) as their names;
//   - JSON keys may be lowerCamelCase (as OTLP requires) or snake_case.

export type AttributeValue =
  | string | number | bigint | boolean | Uint8Array | null
  | AttributeValue[]
  | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export type OtlpProtocol = 'protobuf' | 'json';

export interface OtlpScope {
  name: string;
  version: string;
  attributes: Attributes;
}

export interface OtlpHistogramValue {
  count: number;
  sum: number | undefined;
  min: number | undefined;
  max: number | undefined;
  /** explicit upper bounds; buckets has one more entry than bounds */
  bounds: number[];
  buckets: number[];
}

export interface OtlpExponentialHistogramValue {
  count: number;
  sum: number | undefined;
  min: number | undefined;
  max: number | undefined;
  scale: number;
  zeroCount: number;
  positive: { offset: number; buckets: number[] };
  negative: { offset: number; buckets: number[] };
}

export interface OtlpPoint {
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** gauge and sum points: as_double, or as_int converted to a number */
  value?: number;
  /** gauge and sum points: which oneof member carried the value */
  valueType?: 'int' | 'double';
  histogram?: OtlpHistogramValue;
  exponentialHistogram?: OtlpExponentialHistogramValue;
}

export type OtlpMetricKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'unknown';
export type OtlpTemporality = 'delta' | 'cumulative' | 'unspecified';

export interface OtlpMetric {
  resource: Attributes;
  scope: OtlpScope;
  name: string;
  description: string;
  unit: string;
  kind: OtlpMetricKind;
  /** sum only */
  monotonic?: boolean;
  /** sum, histogram and exponential_histogram only */
  temporality?: OtlpTemporality;
  points: OtlpPoint[];
  protocol: OtlpProtocol;
}

export type OtlpSpanKind = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type OtlpStatusCode = 'unset' | 'ok' | 'error';

export interface OtlpSpanEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: Attributes;
}

export interface OtlpSpanLink {
  traceId: string;
  spanId: string;
  attributes: Attributes;
}

export interface OtlpSpan {
  resource: Attributes;
  scope: OtlpScope;
  /** lowercase hex: 32 characters */
  traceId: string;
  /** lowercase hex: 16 characters */
  spanId: string;
  /** lowercase hex, or undefined for a root span */
  parentSpanId: string | undefined;
  traceState: string;
  flags: number;
  name: string;
  kind: OtlpSpanKind;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: OtlpSpanEvent[];
  links: OtlpSpanLink[];
  status: { code: OtlpStatusCode; message: string };
  protocol: OtlpProtocol;
}

// ---- tolerant accessors over unknown input --------------------------------------------------

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function get(o: Obj | undefined, key: string): unknown {
  if (o === undefined) return undefined;
  return o[key] ?? o[snake(key)];
}

function child(o: Obj | undefined, key: string): Obj | undefined {
  const v = get(o, key);
  return isObj(v) ? v : undefined;
}

function list(o: Obj | undefined, key: string): Obj[] {
  const v = get(o, key);
  return Array.isArray(v) ? v.filter(isObj) : [];
}

function text(o: Obj | undefined, key: string): string {
  const v = get(o, key);
  return typeof v === 'string' ? v : '';
}

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return BigInt(v.trim());
  return undefined;
}

function toDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = Number(v);
    return v.trim() !== '' && !Number.isNaN(n) ? n : undefined;
  }
  return undefined;
}

/** int64 for attribute values: a number when exactly representable, else a bigint */
function toInt(v: unknown): number | bigint {
  const b = toBigInt(v) ?? 0n;
  const n = Number(b);
  return Number.isSafeInteger(n) ? n : b;
}

function time(o: Obj, key: string): bigint {
  return toBigInt(get(o, key)) ?? 0n;
}

function count(o: Obj | undefined, key: string): number {
  return Number(toBigInt(get(o, key)) ?? 0n);
}

function counts(o: Obj | undefined, key: string): number[] {
  const v = get(o, key);
  return Array.isArray(v) ? v.map((x) => Number(toBigInt(x) ?? 0n)) : [];
}

function doubles(o: Obj | undefined, key: string): number[] {
  const v = get(o, key);
  return Array.isArray(v) ? v.map((x) => toDouble(x) ?? NaN) : [];
}

function enumCode(v: unknown, names: readonly string[], prefix: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return Number(v);
    const i = names.indexOf(v.replace(prefix, '').toLowerCase());
    if (i >= 0) return i;
  }
  return 0;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Ids: bytes (protobuf) or hex (OTLP/JSON); base64 accepted from non-conforming JSON encoders. */
function id(o: Obj, key: string): string {
  const v = get(o, key);
  if (v instanceof Uint8Array) return hex(v);
  if (typeof v !== 'string' || v === '') return '';
  if (/^[0-9a-fA-F]+$/.test(v) && (v.length === 32 || v.length === 16)) return v.toLowerCase();
  return Buffer.from(v, 'base64').toString('hex');
}

function bytesValue(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return Uint8Array.from(v);
  if (typeof v === 'string') return Uint8Array.from(Buffer.from(v, 'base64'));
  return new Uint8Array(0);
}

export function anyValue(v: unknown): AttributeValue {
  if (!isObj(v)) return null;
  let x: unknown;
  if ((x = get(v, 'stringValue')) !== undefined) return String(x);
  if ((x = get(v, 'boolValue')) !== undefined) return x === true || x === 'true';
  if ((x = get(v, 'intValue')) !== undefined) return toInt(x);
  if ((x = get(v, 'doubleValue')) !== undefined) return toDouble(x) ?? NaN;
  if ((x = get(v, 'arrayValue')) !== undefined) return list(isObj(x) ? x : undefined, 'values').map(anyValue);
  if ((x = get(v, 'kvlistValue')) !== undefined) return attributes(list(isObj(x) ? x : undefined, 'values'));
  if ((x = get(v, 'bytesValue')) !== undefined) return bytesValue(x);
  return null;
}

export function attributes(kvs: Obj[]): Attributes {
  const out: Attributes = {};
  for (const kv of kvs) out[text(kv, 'key')] = anyValue(get(kv, 'value'));
  return out;
}

function scopeOf(parent: Obj): OtlpScope {
  const s = child(parent, 'scope');
  return { name: text(s, 'name'), version: text(s, 'version'), attributes: attributes(list(s, 'attributes')) };
}

function resourceOf(parent: Obj): Attributes {
  return attributes(list(child(parent, 'resource'), 'attributes'));
}

// ---- metrics --------------------------------------------------------------------------------

const TEMPORALITY: readonly OtlpTemporality[] = ['unspecified', 'delta', 'cumulative'];

function temporality(data: Obj): OtlpTemporality {
  const code = enumCode(get(data, 'aggregationTemporality'), TEMPORALITY, 'AGGREGATION_TEMPORALITY_');
  return TEMPORALITY[code] ?? 'unspecified';
}

function basePoint(p: Obj): OtlpPoint {
  return {
    attributes: attributes(list(p, 'attributes')),
    startTimeUnixNano: time(p, 'startTimeUnixNano'),
    timeUnixNano: time(p, 'timeUnixNano'),
  };
}

function numberPoint(p: Obj): OtlpPoint {
  const point = basePoint(p);
  const asInt = get(p, 'asInt');
  if (asInt !== undefined) {
    point.value = Number(toBigInt(asInt) ?? NaN);
    point.valueType = 'int';
  } else {
    point.value = toDouble(get(p, 'asDouble')) ?? 0;
    point.valueType = 'double';
  }
  return point;
}

function histogramPoint(p: Obj): OtlpPoint {
  const point = basePoint(p);
  point.histogram = {
    count: count(p, 'count'),
    sum: toDouble(get(p, 'sum')),
    min: toDouble(get(p, 'min')),
    max: toDouble(get(p, 'max')),
    bounds: doubles(p, 'explicitBounds'),
    buckets: counts(p, 'bucketCounts'),
  };
  return point;
}

function exponentialPoint(p: Obj): OtlpPoint {
  const point = basePoint(p);
  const buckets = (b: Obj | undefined): { offset: number; buckets: number[] } => ({
    offset: Number(toBigInt(get(b, 'offset')) ?? 0n),
    buckets: counts(b, 'bucketCounts'),
  });
  point.exponentialHistogram = {
    count: count(p, 'count'),
    sum: toDouble(get(p, 'sum')),
    min: toDouble(get(p, 'min')),
    max: toDouble(get(p, 'max')),
    scale: Number(toBigInt(get(p, 'scale')) ?? 0n),
    zeroCount: count(p, 'zeroCount'),
    positive: buckets(child(p, 'positive')),
    negative: buckets(child(p, 'negative')),
  };
  return point;
}

function metric(m: Obj, resource: Attributes, scope: OtlpScope, protocol: OtlpProtocol): OtlpMetric {
  const out: OtlpMetric = {
    resource, scope, protocol,
    name: text(m, 'name'),
    description: text(m, 'description'),
    unit: text(m, 'unit'),
    kind: 'unknown',
    points: [],
  };
  let data: Obj | undefined;
  if ((data = child(m, 'gauge'))) {
    out.kind = 'gauge';
    out.points = list(data, 'dataPoints').map(numberPoint);
  } else if ((data = child(m, 'sum'))) {
    out.kind = 'sum';
    const mono = get(data, 'isMonotonic');
    out.monotonic = mono === true || mono === 'true';
    out.temporality = temporality(data);
    out.points = list(data, 'dataPoints').map(numberPoint);
  } else if ((data = child(m, 'histogram'))) {
    out.kind = 'histogram';
    out.temporality = temporality(data);
    out.points = list(data, 'dataPoints').map(histogramPoint);
  } else if ((data = child(m, 'exponentialHistogram'))) {
    out.kind = 'exponential_histogram';
    out.temporality = temporality(data);
    out.points = list(data, 'dataPoints').map(exponentialPoint);
  }
  return out;
}

/** Flattens an ExportMetricsServiceRequest (OTLP/JSON shape) into normalized metrics. */
export function normalizeMetrics(request: unknown, protocol: OtlpProtocol): OtlpMetric[] {
  const out: OtlpMetric[] = [];
  const req = isObj(request) ? request : {};
  for (const rm of list(req, 'resourceMetrics')) {
    const resource = resourceOf(rm);
    for (const sm of list(rm, 'scopeMetrics')) {
      const scope = scopeOf(sm);
      for (const m of list(sm, 'metrics')) out.push(metric(m, resource, scope, protocol));
    }
  }
  return out;
}

// ---- traces ---------------------------------------------------------------------------------

const SPAN_KIND: readonly OtlpSpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_CODE: readonly OtlpStatusCode[] = ['unset', 'ok', 'error'];

function span(s: Obj, resource: Attributes, scope: OtlpScope, protocol: OtlpProtocol): OtlpSpan {
  const status = child(s, 'status');
  const parent = id(s, 'parentSpanId');
  return {
    resource, scope, protocol,
    traceId: id(s, 'traceId'),
    spanId: id(s, 'spanId'),
    parentSpanId: parent === '' ? undefined : parent,
    traceState: text(s, 'traceState'),
    flags: Number(toBigInt(get(s, 'flags')) ?? 0n),
    name: text(s, 'name'),
    kind: SPAN_KIND[enumCode(get(s, 'kind'), SPAN_KIND, 'SPAN_KIND_')] ?? 'unspecified',
    startTimeUnixNano: time(s, 'startTimeUnixNano'),
    endTimeUnixNano: time(s, 'endTimeUnixNano'),
    attributes: attributes(list(s, 'attributes')),
    events: list(s, 'events').map((e) => ({
      name: text(e, 'name'),
      timeUnixNano: time(e, 'timeUnixNano'),
      attributes: attributes(list(e, 'attributes')),
    })),
    links: list(s, 'links').map((l) => ({
      traceId: id(l, 'traceId'),
      spanId: id(l, 'spanId'),
      attributes: attributes(list(l, 'attributes')),
    })),
    status: {
      code: STATUS_CODE[enumCode(get(status, 'code'), STATUS_CODE, 'STATUS_CODE_')] ?? 'unset',
      message: text(status, 'message'),
    },
  };
}

/** Flattens an ExportTraceServiceRequest (OTLP/JSON shape) into normalized spans. */
export function normalizeSpans(request: unknown, protocol: OtlpProtocol): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  const req = isObj(request) ? request : {};
  for (const rs of list(req, 'resourceSpans')) {
    const resource = resourceOf(rs);
    for (const ss of list(rs, 'scopeSpans')) {
      const scope = scopeOf(ss);
      for (const s of list(ss, 'spans')) out.push(span(s, resource, scope, protocol));
    }
  }
  return out;
}
