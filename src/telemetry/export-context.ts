// What a probe's metric and span exporters get: the meter and tracer of this run, the probe's
// own config section, the log, and the kernel's facts.
import type { Meter, Tracer } from '@opentelemetry/api';
import type { KernelInfo } from '../host/kernel.ts';
import type { Logger } from '../log.ts';

export interface ExportContext<C = unknown> {
  meter: Meter;
  /** Present when spans are exported somewhere. */
  tracer?: Tracer;
  config: C;
  log: Logger;
  kernel: KernelInfo;
}
