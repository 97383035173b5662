// What a probe's metric and span exporters get: the meter and tracer of this run, the probe's
// own config section, the log, and the kernel's facts.
import type { Meter, Tracer } from '@opentelemetry/api';
import type { KernelInfo } from '../host/kernel.ts';
import type { Logger } from '../log.ts';
import type { RecentSpans } from './recent-spans.ts';

export interface ExportContext<C = unknown> {
  meter: Meter;
  /** Present when spans are exported somewhere. */
  tracer?: Tracer;
  /** Shared by the probes of one run: the last span of a kind per process, to link to. */
  recent?: RecentSpans;
  config: C;
  log: Logger;
  kernel: KernelInfo;
}
