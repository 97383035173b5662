// The main job: preflight, telemetry, probes, run until told to stop, then one stop path
// (final drain, detach, flush).
import { createNoopMeter, type Meter } from '@opentelemetry/api';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { ConsoleSink, type ConsoleBinding } from '../console/sink.ts';
import { routeLibbpfLog } from '../libbpf/log.ts';
import type { Logger } from '../log.ts';
import { readKernelInfo } from '../runtime/kernel.ts';
import type { ProbeContext, ProbeDefinition, ProbeName } from '../runtime/probe.ts';
import { Runtime, type RecordSink } from '../runtime/runtime.ts';
import type { ExportContext, RecordHandler } from '../telemetry/export-context.ts';
import { startTelemetry, type Telemetry } from '../telemetry/otel.ts';
import { selfMetrics } from '../telemetry/self.ts';
import { checkTargets, preflight } from './preflight.ts';
import { PROBES } from './registry.ts';

export class RuntimeFailure extends Error {}

/** Probes the config enables, in registry order. */
export function enabledProbes(config: Config): ProbeName[] {
  const out: ProbeName[] = [];
  const p = config.probes;
  if (p.procstat.enabled) out.push('procstat');
  if (p.sysstat.enabled) out.push('sysstat');
  if (p.paf.enabled) out.push('paf');
  if (p.pr.enabled) out.push('pr');
  if (p.memleak.pids.length > 0 || p.memleak.command.length > 0 || p.memleak.kernel) out.push('memleak');
  return out;
}

class DispatchSink implements RecordSink {
  readonly #handlers: Map<ProbeName, Array<RecordHandler<unknown>>>;
  constructor(handlers: Map<ProbeName, Array<RecordHandler<unknown>>>) {
    this.#handlers = handlers;
  }
  onRecord(probe: ProbeName, record: unknown): void {
    for (const h of this.#handlers.get(probe) ?? []) h(record);
  }
}

export interface RunOptions {
  config: Config;
  log: Logger;
  /** Resolves when the run must stop (signal); --duration is handled here. */
  stopSignal: Promise<string>;
  write?: (line: string) => void;
}

export async function run(opts: RunOptions): Promise<void> {
  const { config, log } = opts;
  const kernel = readKernelInfo();
  preflight(kernel);
  checkTargets(config);
  routeLibbpfLog(log);

  const names = enabledProbes(config);
  if (names.length === 0) {
    throw new ConfigError('no probe is enabled: name one (-s, -r, -a, -p, -l PID) or set a probes.<name>.enabled key to true');
  }
  const otelWanted = config.exporters.includes('otlp') || config.exporters.includes('prometheus');
  const telemetry: Telemetry | undefined = otelWanted ? await startTelemetry(config, log) : undefined;
  const meter: Meter = telemetry?.meter ?? createNoopMeter();
  const exportCtx: ExportContext = { meter, tracer: telemetry?.tracer, config, log, kernel };

  const handlers = new Map<ProbeName, Array<RecordHandler<unknown>>>();
  const consoleBindings = new Map<ProbeName, ConsoleBinding<unknown>>();
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const useConsole = config.exporters.includes('console');
  const defs: Array<ProbeDefinition<unknown>> = [];
  for (const name of names) {
    const entry = PROBES[name];
    if (!entry) continue;
    defs.push(entry.definition);
    const hs: Array<RecordHandler<unknown>> = [];
    if (telemetry && entry.metrics) hs.push(entry.metrics(exportCtx));
    if (telemetry?.tracer && entry.spans) hs.push(entry.spans(exportCtx));
    handlers.set(name, hs);
    if (useConsole && entry.console) {
      consoleBindings.set(name, entry.console(write, names.length > 1 ? `${name.padEnd(8)} ` : '', exportCtx));
    }
  }

  const consoleSink = new ConsoleSink(consoleBindings);
  let probeStop: (why: string) => void = () => {};
  const probeStopped = new Promise<string>((resolve) => { probeStop = resolve; });
  const ctx: ProbeContext = { config, log, kernel, requestStop: (why) => probeStop(why) };
  const runtime = new Runtime(ctx, [new DispatchSink(handlers), consoleSink]);
  selfMetrics(exportCtx, runtime);

  let stopped = false;
  const stop = async (why: string) => {
    if (stopped) return;
    stopped = true;
    log.debug(`stopping: ${why}`);
    runtime.stop();
    consoleSink.stop();
    await telemetry?.shutdown();
  };

  try {
    runtime.start(defs);
    if (runtime.attachedCount === 0) {
      throw new RuntimeFailure(`no probe could attach on kernel ${kernel.release}: ${runtime.status.map((s) => `${s.probe}: ${s.refused.map((r) => r.reason).join('; ') || 'not started'}`).join(' | ')}`);
    }
    // A skipped probe prints no table header (its skip line says why).
    for (const s of runtime.status) if (!s.strategy) consoleBindings.delete(s.probe);
    consoleSink.start();
    const reasons: Array<Promise<string>> = [opts.stopSignal, probeStopped];
    let durationTimer: NodeJS.Timeout | undefined;
    if (config.duration > 0) {
      reasons.push(new Promise((resolve) => { durationTimer = setTimeout(() => resolve('duration elapsed'), config.duration * 1000); }));
    }
    const why = await Promise.race(reasons);
    if (durationTimer) clearTimeout(durationTimer);
    await stop(why);
  } finally {
    await stop('error');
  }
}
