// What a probe's exporters get: the meter and tracer of this run, the config, the log.
import type { Meter, Tracer } from '@opentelemetry/api';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { KernelInfo } from '../runtime/kernel.ts';

export interface ExportContext {
  meter: Meter;
  tracer?: Tracer;
  config: Config;
  log: Logger;
  kernel: KernelInfo;
}

/** Consumes one probe's records; a probe's exporters are one of these per signal. */
export type RecordHandler<R> = (record: R) => void;
