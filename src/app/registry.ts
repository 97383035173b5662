// Which probes exist and how each one's records reach each exporter. Adding a probe is one
// entry here plus its own files (bpf/<probe>.bpf.c, src/probes/<probe>.ts, its exporters).
import { memleakConsole } from '../console/memleak.ts';
import { pafConsole } from '../console/paf.ts';
import type { ConsoleBinding } from '../console/sink.ts';
import { prConsole } from '../console/pr.ts';
import { procstatConsole } from '../console/procstat.ts';
import { sysstatConsole } from '../console/sysstat.ts';
import { memleakProbe } from '../probes/memleak/index.ts';
import { pafProbe } from '../probes/paf.ts';
import { prProbe } from '../probes/pr.ts';
import { procstatProbe, selectionFromConfig } from '../probes/procstat.ts';
import { sysstatProbe } from '../probes/sysstat.ts';
import type { ProbeDefinition, ProbeName } from '../runtime/probe.ts';
import type { ExportContext, RecordHandler } from '../telemetry/export-context.ts';
import { memleakMetrics, memleakSpans } from '../telemetry/memleak.ts';
import { pafMetrics, pafSpans } from '../telemetry/paf.ts';
import { prMetrics } from '../telemetry/pr.ts';
import { procstatMetrics } from '../telemetry/procstat.ts';
import { sysstatMetrics } from '../telemetry/sysstat.ts';

export interface ProbeEntry<R> {
  definition: ProbeDefinition<R>;
  metrics?(ctx: ExportContext): RecordHandler<R>;
  spans?(ctx: ExportContext): RecordHandler<R>;
  console?(write: (line: string) => void, prefix: string, ctx: ExportContext): ConsoleBinding<R>;
}

function entry<R>(e: ProbeEntry<R>): ProbeEntry<unknown> {
  return e as ProbeEntry<unknown>;
}

/** Probes in the order they start and print. Absent ones are not implemented yet. */
export const PROBES: Partial<Record<ProbeName, ProbeEntry<unknown>>> = {
  procstat: entry({ definition: procstatProbe, metrics: (c) => procstatMetrics(c), console: (w, p, c) => procstatConsole(w, p, selectionFromConfig(c.config.probes.procstat)) }),
  sysstat: entry({ definition: sysstatProbe, metrics: sysstatMetrics, console: (w, p) => sysstatConsole(w, p) }),
  paf: entry({ definition: pafProbe, metrics: pafMetrics, spans: (c) => pafSpans(c), console: (w, p, c) => pafConsole(w, p, c) }),
  pr: entry({ definition: prProbe, metrics: prMetrics, console: (w, p) => prConsole(w, p) }),
  memleak: entry({ definition: memleakProbe, metrics: memleakMetrics, spans: memleakSpans, console: (w, p, c) => memleakConsole(w, p, c.config.verbose) }),
};
