// A small protobuf wire-format decoder and the part of the OTLP schema our tests need.
//
// Decoding is schema-driven: each message is a table from field number to {name, type}, with
// the names taken from the OTLP/JSON mapping (lowerCamelCase). The decoded protobuf therefore has
// the same shape as an OTLP/JSON body, so one normalizer (otlp-normalize.ts) serves both.
// Field numbers follow opentelemetry-proto (common/v1, resource/v1, metrics/v1, trace/v1,
// collector/*/v1). Unknown fields are skipped, as protobuf requires.

/** Wire types: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit (3/4, groups, are not used by OTLP). */
export type WireType = 0 | 1 | 2 | 5;

export interface WireField {
  no: number;
  wire: WireType;
  /** varint: the raw unsigned 64-bit value */
  varint: bigint;
  /** 64-bit, 32-bit and length-delimited: the payload bytes (a view into the input) */
  bytes: Uint8Array;
}

export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    const b = buf[pos + i];
    if (b === undefined) throw new ProtobufError(`truncated varint at offset ${pos}`);
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [BigInt.asUintN(64, result), pos + i + 1];
    shift += 7n;
  }
  throw new ProtobufError(`varint longer than 10 bytes at offset ${pos}`);
}

/** Splits one message's bytes into its fields, in wire order. */
export function* readFields(buf: Uint8Array): Generator<WireField> {
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (no === 0) throw new ProtobufError(`field number 0 at offset ${pos}`);
    pos = afterKey;
    let size: number;
    if (wire === 0) {
      const [varint, next] = readVarint(buf, pos);
      pos = next;
      yield { no, wire, varint, bytes: new Uint8Array(0) };
      continue;
    } else if (wire === 1) {
      size = 8;
    } else if (wire === 5) {
      size = 4;
    } else if (wire === 2) {
      const [len, next] = readVarint(buf, pos);
      pos = next;
      size = Number(len);
    } else {
      throw new ProtobufError(`unsupported wire type ${wire} (field ${no}) at offset ${pos}`);
    }
    if (pos + size > buf.length) throw new ProtobufError(`field ${no} overruns the message (offset ${pos}, ${size} bytes)`);
    yield { no, wire, varint: 0n, bytes: buf.subarray(pos, pos + size) };
    pos += size;
  }
}

export type ScalarType =
  | 'double' | 'float'
  | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64' | 'bool' | 'enum'
  | 'fixed32' | 'sfixed32' | 'fixed64' | 'sfixed64'
  | 'string' | 'bytes';

export interface FieldSpec {
  /** the OTLP/JSON (lowerCamelCase) name */
  name: string;
  /** a scalar type, or a thunk giving a message schema (thunks allow recursion: AnyValue) */
  type: ScalarType | (() => MessageSchema);
  repeated?: boolean;
}

export type MessageSchema = Readonly<Record<number, FieldSpec>>;

export type DecodedValue = string | number | bigint | boolean | Uint8Array | DecodedMessage | DecodedValue[];
export interface DecodedMessage {
  [name: string]: DecodedValue;
}

const WIRE_OF: Record<ScalarType, WireType> = {
  double: 1, fixed64: 1, sfixed64: 1,
  float: 5, fixed32: 5, sfixed32: 5,
  int32: 0, int64: 0, uint32: 0, uint64: 0, sint32: 0, sint64: 0, bool: 0, enum: 0,
  string: 2, bytes: 2,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function zigzag(v: bigint): bigint {
  return (v >> 1n) ^ -(v & 1n);
}

function fromVarint(type: ScalarType, v: bigint): DecodedValue {
  switch (type) {
    case 'int32': case 'enum': return Number(BigInt.asIntN(32, v));
    case 'uint32': return Number(BigInt.asUintN(32, v));
    case 'int64': return BigInt.asIntN(64, v);
    case 'uint64': return v;
    case 'sint32': return Number(zigzag(BigInt.asUintN(32, v)));
    case 'sint64': return zigzag(v);
    case 'bool': return v !== 0n;
    default: throw new ProtobufError(`${type} is not a varint type`);
  }
}

function fromFixed(type: ScalarType, bytes: Uint8Array): DecodedValue {
  const dv = view(bytes);
  switch (type) {
    case 'double': return dv.getFloat64(0, true);
    case 'fixed64': return dv.getBigUint64(0, true);
    case 'sfixed64': return dv.getBigInt64(0, true);
    case 'float': return dv.getFloat32(0, true);
    case 'fixed32': return dv.getUint32(0, true);
    case 'sfixed32': return dv.getInt32(0, true);
    default: throw new ProtobufError(`${type} is not a fixed-width type`);
  }
}

/** Expands a packed repeated scalar field (wire type 2 holding several numeric values). */
function unpack(type: ScalarType, bytes: Uint8Array): DecodedValue[] {
  const out: DecodedValue[] = [];
  const wire = WIRE_OF[type];
  if (wire === 0) {
    let pos = 0;
    while (pos < bytes.length) {
      const [v, next] = readVarint(bytes, pos);
      out.push(fromVarint(type, v));
      pos = next;
    }
  } else {
    const size = wire === 1 ? 8 : 4;
    if (bytes.length % size !== 0) throw new ProtobufError(`packed ${type} field of ${bytes.length} bytes`);
    for (let pos = 0; pos < bytes.length; pos += size) out.push(fromFixed(type, bytes.subarray(pos, pos + size)));
  }
  return out;
}

/** Decodes one message with a schema. Repeated fields always come out as arrays (when present). */
export function decodeMessage(buf: Uint8Array, schema: MessageSchema): DecodedMessage {
  const msg: DecodedMessage = {};
  for (const f of readFields(buf)) {
    const spec = schema[f.no];
    if (spec === undefined) continue; // unknown field: skip
    let values: DecodedValue[];
    if (typeof spec.type === 'function') {
      if (f.wire !== 2) throw new ProtobufError(`field ${spec.name} (${f.no}): message with wire type ${f.wire}`);
      values = [decodeMessage(f.bytes, spec.type())];
    } else if (f.wire === 2 && WIRE_OF[spec.type] !== 2) {
      if (!spec.repeated) throw new ProtobufError(`field ${spec.name} (${f.no}): packed encoding on a singular ${spec.type}`);
      values = unpack(spec.type, f.bytes);
    } else if (f.wire !== WIRE_OF[spec.type]) {
      throw new ProtobufError(`field ${spec.name} (${f.no}): wire type ${f.wire} for ${spec.type}`);
    } else if (f.wire === 0) {
      values = [fromVarint(spec.type, f.varint)];
    } else if (spec.type === 'string') {
      values = [utf8.decode(f.bytes)];
    } else if (spec.type === 'bytes') {
      values = [Uint8Array.from(f.bytes)];
    } else {
      values = [fromFixed(spec.type, f.bytes)];
    }
    if (spec.repeated) {
      const prev = msg[spec.name];
      msg[spec.name] = Array.isArray(prev) ? [...prev, ...values] : values;
    } else {
      // last one wins for singular fields, as protobuf specifies
      msg[spec.name] = values[values.length - 1] as DecodedValue;
    }
  }
  return msg;
}

// ---- OTLP schema -------------------------------------------------------------------------

// opentelemetry/proto/common/v1/common.proto
export const AnyValue: MessageSchema = {
  1: { name: 'stringValue', type: 'string' },
  2: { name: 'boolValue', type: 'bool' },
  3: { name: 'intValue', type: 'int64' },
  4: { name: 'doubleValue', type: 'double' },
  5: { name: 'arrayValue', type: () => ArrayValue },
  6: { name: 'kvlistValue', type: () => KeyValueList },
  7: { name: 'bytesValue', type: 'bytes' },
};
export const ArrayValue: MessageSchema = {
  1: { name: 'values', type: () => AnyValue, repeated: true },
};
export const KeyValue: MessageSchema = {
  1: { name: 'key', type: 'string' },
  2: { name: 'value', type: () => AnyValue },
};
export const KeyValueList: MessageSchema = {
  1: { name: 'values', type: () => KeyValue, repeated: true },
};
export const InstrumentationScope: MessageSchema = {
  1: { name: 'name', type: 'string' },
  2: { name: 'version', type: 'string' },
  3: { name: 'attributes', type: () => KeyValue, repeated: true },
  4: { name: 'droppedAttributesCount', type: 'uint32' },
};

// opentelemetry/proto/resource/v1/resource.proto
export const Resource: MessageSchema = {
  1: { name: 'attributes', type: () => KeyValue, repeated: true },
  2: { name: 'droppedAttributesCount', type: 'uint32' },
};

// opentelemetry/proto/metrics/v1/metrics.proto
export const NumberDataPoint: MessageSchema = {
  7: { name: 'attributes', type: () => KeyValue, repeated: true },
  2: { name: 'startTimeUnixNano', type: 'fixed64' },
  3: { name: 'timeUnixNano', type: 'fixed64' },
  4: { name: 'asDouble', type: 'double' },
  6: { name: 'asInt', type: 'sfixed64' },
  8: { name: 'flags', type: 'uint32' },
};
export const HistogramDataPoint: MessageSchema = {
  9: { name: 'attributes', type: () => KeyValue, repeated: true },
  2: { name: 'startTimeUnixNano', type: 'fixed64' },
  3: { name: 'timeUnixNano', type: 'fixed64' },
  4: { name: 'count', type: 'fixed64' },
  5: { name: 'sum', type: 'double' },
  6: { name: 'bucketCounts', type: 'fixed64', repeated: true },
  7: { name: 'explicitBounds', type: 'double', repeated: true },
  10: { name: 'flags', type: 'uint32' },
  11: { name: 'min', type: 'double' },
  12: { name: 'max', type: 'double' },
};
export const ExponentialHistogramBuckets: MessageSchema = {
  1: { name: 'offset', type: 'sint32' },
  2: { name: 'bucketCounts', type: 'uint64', repeated: true },
};
export const ExponentialHistogramDataPoint: MessageSchema = {
  1: { name: 'attributes', type: () => KeyValue, repeated: true },
  2: { name: 'startTimeUnixNano', type: 'fixed64' },
  3: { name: 'timeUnixNano', type: 'fixed64' },
  4: { name: 'count', type: 'fixed64' },
  5: { name: 'sum', type: 'double' },
  6: { name: 'scale', type: 'sint32' },
  7: { name: 'zeroCount', type: 'fixed64' },
  8: { name: 'positive', type: () => ExponentialHistogramBuckets },
  9: { name: 'negative', type: () => ExponentialHistogramBuckets },
  10: { name: 'flags', type: 'uint32' },
  12: { name: 'min', type: 'double' },
  13: { name: 'max', type: 'double' },
  14: { name: 'zeroThreshold', type: 'double' },
};
export const Gauge: MessageSchema = {
  1: { name: 'dataPoints', type: () => NumberDataPoint, repeated: true },
};
export const Sum: MessageSchema = {
  1: { name: 'dataPoints', type: () => NumberDataPoint, repeated: true },
  2: { name: 'aggregationTemporality', type: 'enum' },
  3: { name: 'isMonotonic', type: 'bool' },
};
export const Histogram: MessageSchema = {
  1: { name: 'dataPoints', type: () => HistogramDataPoint, repeated: true },
  2: { name: 'aggregationTemporality', type: 'enum' },
};
export const ExponentialHistogram: MessageSchema = {
  1: { name: 'dataPoints', type: () => ExponentialHistogramDataPoint, repeated: true },
  2: { name: 'aggregationTemporality', type: 'enum' },
};
export const Metric: MessageSchema = {
  1: { name: 'name', type: 'string' },
  2: { name: 'description', type: 'string' },
  3: { name: 'unit', type: 'string' },
  5: { name: 'gauge', type: () => Gauge },
  7: { name: 'sum', type: () => Sum },
  9: { name: 'histogram', type: () => Histogram },
  10: { name: 'exponentialHistogram', type: () => ExponentialHistogram },
  12: { name: 'metadata', type: () => KeyValue, repeated: true },
};
export const ScopeMetrics: MessageSchema = {
  1: { name: 'scope', type: () => InstrumentationScope },
  2: { name: 'metrics', type: () => Metric, repeated: true },
  3: { name: 'schemaUrl', type: 'string' },
};
export const ResourceMetrics: MessageSchema = {
  1: { name: 'resource', type: () => Resource },
  2: { name: 'scopeMetrics', type: () => ScopeMetrics, repeated: true },
  3: { name: 'schemaUrl', type: 'string' },
};
// opentelemetry/proto/collector/metrics/v1/metrics_service.proto
export const ExportMetricsServiceRequest: MessageSchema = {
  1: { name: 'resourceMetrics', type: () => ResourceMetrics, repeated: true },
};

// opentelemetry/proto/trace/v1/trace.proto
export const SpanEvent: MessageSchema = {
  1: { name: 'timeUnixNano', type: 'fixed64' },
  2: { name: 'name', type: 'string' },
  3: { name: 'attributes', type: () => KeyValue, repeated: true },
  4: { name: 'droppedAttributesCount', type: 'uint32' },
};
export const SpanLink: MessageSchema = {
  1: { name: 'traceId', type: 'bytes' },
  2: { name: 'spanId', type: 'bytes' },
  3: { name: 'traceState', type: 'string' },
  4: { name: 'attributes', type: () => KeyValue, repeated: true },
  5: { name: 'droppedAttributesCount', type: 'uint32' },
  6: { name: 'flags', type: 'fixed32' },
};
export const Status: MessageSchema = {
  2: { name: 'message', type: 'string' },
  3: { name: 'code', type: 'enum' },
};
export const Span: MessageSchema = {
  1: { name: 'traceId', type: 'bytes' },
  2: { name: 'spanId', type: 'bytes' },
  3: { name: 'traceState', type: 'string' },
  4: { name: 'parentSpanId', type: 'bytes' },
  16: { name: 'flags', type: 'fixed32' },
  5: { name: 'name', type: 'string' },
  6: { name: 'kind', type: 'enum' },
  7: { name: 'startTimeUnixNano', type: 'fixed64' },
  8: { name: 'endTimeUnixNano', type: 'fixed64' },
  9: { name: 'attributes', type: () => KeyValue, repeated: true },
  10: { name: 'droppedAttributesCount', type: 'uint32' },
  11: { name: 'events', type: () => SpanEvent, repeated: true },
  12: { name: 'droppedEventsCount', type: 'uint32' },
  13: { name: 'links', type: () => SpanLink, repeated: true },
  14: { name: 'droppedLinksCount', type: 'uint32' },
  15: { name: 'status', type: () => Status },
};
export const ScopeSpans: MessageSchema = {
  1: { name: 'scope', type: () => InstrumentationScope },
  2: { name: 'spans', type: () => Span, repeated: true },
  3: { name: 'schemaUrl', type: 'string' },
};
export const ResourceSpans: MessageSchema = {
  1: { name: 'resource', type: () => Resource },
  2: { name: 'scopeSpans', type: () => ScopeSpans, repeated: true },
  3: { name: 'schemaUrl', type: 'string' },
};
// opentelemetry/proto/collector/trace/v1/trace_service.proto
export const ExportTraceServiceRequest: MessageSchema = {
  1: { name: 'resourceSpans', type: () => ResourceSpans, repeated: true },
};

export function decodeExportMetricsServiceRequest(buf: Uint8Array): DecodedMessage {
  return decodeMessage(buf, ExportMetricsServiceRequest);
}

export function decodeExportTraceServiceRequest(buf: Uint8Array): DecodedMessage {
  return decodeMessage(buf, ExportTraceServiceRequest);
}
