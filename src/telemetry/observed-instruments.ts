// Asynchronous instruments (observable gauges and counters) whose data points are exactly what
// their callbacks observed at this collection.
//
// The SDK's own asynchronous instruments, with cumulative temporality (OTLP's default and all
// Prometheus knows), remember every attribute set ever observed: a process that exited is
// exported with its last value forever, and once an instrument has seen 2000 attribute sets
// (its cardinality limit) every new process lands in one `otel.metric.overflow` series. With
// per-process metrics on a host that starts thousands of processes, both happen within hours.
// Here each collection calls the callbacks and reports what they observed, nothing else; the
// only state kept is the start time of series that are still observed.
import { ValueType, type Attributes, type BatchObservableCallback, type BatchObservableResult, type Meter, type MetricOptions, type Observable, type ObservableCallback, type ObservableResult } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type CollectionResult, type DataPoint, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';

type Kind = 'gauge' | 'counter' | 'updowncounter';
type HrTime = [number, number];

class ObservedInstrument implements Observable {
  readonly name: string;
  readonly kind: Kind;
  readonly options: MetricOptions;
  readonly callbacks = new Set<ObservableCallback>();
  /** Start time of each series observed at the last collection, by attribute key. */
  starts = new Map<string, HrTime>();

  constructor(name: string, kind: Kind, options: MetricOptions) {
    this.name = name;
    this.kind = kind;
    this.options = options;
  }

  addCallback(callback: ObservableCallback): void {
    this.callbacks.add(callback);
  }

  removeCallback(callback: ObservableCallback): void {
    this.callbacks.delete(callback);
  }
}

interface Observation {
  attributes: Attributes;
  value: number;
}

function hrNow(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const s = Math.floor(ms / 1000);
  return [s, Math.min(999_999_999, Math.round((ms - s * 1000) * 1e6))];
}

function attributeKey(a: Attributes): string {
  return JSON.stringify(Object.keys(a).sort().map((k) => [k, a[k]]));
}

/** The producer every metric reader pulls from, beside the SDK's own. */
export class ObservedInstruments implements MetricProducer {
  readonly #resource: Resource;
  readonly #scope: { name: string; version: string };
  readonly #instruments: ObservedInstrument[] = [];
  readonly #batches = new Map<BatchObservableCallback, ObservedInstrument[]>();

  constructor(resource: Resource, scope: { name: string; version: string }) {
    this.#resource = resource;
    this.#scope = scope;
  }

  /** A Meter whose observable instruments are these; synchronous ones stay the SDK's. */
  meter(sdk: Meter): Meter {
    const create = (kind: Kind) => (name: string, options: MetricOptions = {}) => {
      const i = new ObservedInstrument(name, kind, options);
      this.#instruments.push(i);
      return i;
    };
    return {
      createGauge: (name, options) => sdk.createGauge(name, options),
      createHistogram: (name, options) => sdk.createHistogram(name, options),
      createCounter: (name, options) => sdk.createCounter(name, options),
      createUpDownCounter: (name, options) => sdk.createUpDownCounter(name, options),
      createObservableGauge: create('gauge'),
      createObservableCounter: create('counter'),
      createObservableUpDownCounter: create('updowncounter'),
      addBatchObservableCallback: (callback, observables) => {
        this.#batches.set(callback as BatchObservableCallback, observables.filter((o): o is ObservedInstrument => o instanceof ObservedInstrument));
      },
      removeBatchObservableCallback: (callback) => {
        this.#batches.delete(callback as BatchObservableCallback);
      },
    };
  }

  async collect(): Promise<CollectionResult> {
    const errors: unknown[] = [];
    const seen = new Map<ObservedInstrument, Map<string, Observation>>(this.#instruments.map((i) => [i, new Map()]));
    const record = (i: ObservedInstrument, value: unknown, attributes: Attributes = {}) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) return;
      seen.get(i)?.set(attributeKey(attributes), { attributes, value }); // the last observation wins
    };
    for (const i of this.#instruments) {
      const result: ObservableResult = { observe: (value, attributes) => record(i, value, attributes) };
      for (const cb of i.callbacks) {
        try {
          await cb(result);
        } catch (err) {
          errors.push(err);
        }
      }
    }
    for (const [cb, observables] of this.#batches) {
      const result: BatchObservableResult = {
        observe: (o, value, attributes) => {
          if (o instanceof ObservedInstrument && observables.includes(o)) record(o, value, attributes);
        },
      };
      try {
        await cb(result);
      } catch (err) {
        errors.push(err);
      }
    }

    const now = hrNow();
    const metrics: MetricData[] = [];
    for (const [i, observations] of seen) {
      const starts = new Map<string, HrTime>();
      const dataPoints: Array<DataPoint<number>> = [];
      for (const [key, o] of observations) {
        const startTime = i.starts.get(key) ?? now;
        starts.set(key, startTime);
        dataPoints.push({ startTime, endTime: now, attributes: o.attributes, value: o.value });
      }
      i.starts = starts; // series no longer observed are forgotten
      if (dataPoints.length === 0) continue;
      const descriptor = { name: i.name, description: i.options.description ?? '', unit: i.options.unit ?? '', valueType: i.options.valueType ?? ValueType.DOUBLE };
      metrics.push(i.kind === 'gauge'
        ? { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints }
        : { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: i.kind === 'counter', dataPoints });
    }
    return { resourceMetrics: { resource: this.#resource, scopeMetrics: metrics.length > 0 ? [{ scope: this.#scope, metrics }] : [] }, errors };
  }
}
