// The main job: preflight, telemetry, probes, run until told to stop, then one stop path
// (final drain, detach, flush).
import { createNoopMeter, type Meter } from '@opentelemetry/api';
import { ConfigError } from '../config/load.ts';
import { EnvironmentError } from '../errors.ts';
import { loadKernelSymbols } from '../host/kallsyms.ts';
import { readKernelInfo } from '../host/kernel.ts';
import { routeLibbpfLog } from '../libbpf/log.ts';
import { printableLine, type Logger } from '../log.ts';
import type { RecordExporter } from '../runtime/exporter.ts';
import { checkProbeLayouts } from '../runtime/layout-check.ts';
import { Runtime, type ProbeRun } from '../runtime/runtime.ts';
import { startTelemetry, type Telemetry } from '../telemetry/otel.ts';
import { RecentSpans } from '../telemetry/recent-spans.ts';
import { selfMetrics } from '../telemetry/self.ts';
import { enabledProbes, sectionOf, type Config } from './config.ts';
import { Health, serveEndpoints } from './health.ts';
import type { HttpServer } from '../telemetry/http-server.ts';
import { checkTargets, preflight } from './preflight.ts';
import type { AnyProbe } from './registry.ts';

export class RuntimeFailure extends Error {}

export interface RunOptions {
  config: Config;
  log: Logger;
  /** Resolves when the run must stop (signal); --duration is handled here. */
  stopSignal: Promise<string>;
  write?: (line: string) => void;
}

/** The exporters of one probe, as the config asks: metrics and spans to OpenTelemetry, a table to the console. */
function exportersOf(p: AnyProbe, section: unknown, opts: { telemetry?: Telemetry; meter: Meter; config: Config; log: Logger; kernel: ReturnType<typeof readKernelInfo>; write: (line: string) => void; prefix: string; recent: RecentSpans }): Array<RecordExporter<unknown>> {
  // One module's hooks, called with its own section: the registry's union of module types
  // cannot see that each module only ever meets its own config.
  const m = p as unknown as {
    metrics?(c: object): RecordExporter<unknown>;
    spans?(c: object): RecordExporter<unknown>;
    console?(c: object): RecordExporter<unknown>;
  };
  const ctx = { meter: opts.meter, tracer: opts.telemetry?.tracer, recent: opts.recent, config: section, log: opts.log, kernel: opts.kernel };
  const out: Array<RecordExporter<unknown>> = [];
  if (opts.telemetry && m.metrics) out.push(m.metrics(ctx));
  if (opts.telemetry?.tracer && m.spans) out.push(m.spans(ctx));
  if (opts.config.exporters.includes('console') && m.console) {
    out.push(m.console({ write: opts.write, prefix: opts.prefix, config: section, kernel: opts.kernel, verbose: opts.config.verbose }));
  }
  return out;
}

/** Resolves to the exit code: 0, or that of a traced command when its end ended the run. */
export async function run(opts: RunOptions): Promise<number> {
  const { config, log } = opts;
  const kernel = readKernelInfo();
  preflight(kernel);
  checkTargets(config);
  routeLibbpfLog(log);
  void loadKernelSymbols(); // in the background: kprobe targets and kernel stacks need it later

  const probes = enabledProbes(config);
  if (probes.length === 0) {
    throw new ConfigError('no probe is enabled: name one (-s, -r, -a, -p, -k, -l PID) or set a probes.<name>.enabled key to true');
  }
  const outOfStep = checkProbeLayouts(probes.map((p) => p.definition as ProbeRun['definition']));
  if (outOfStep) throw new EnvironmentError(outOfStep);
  const otelAsked = config.exporters.includes('otlp') || config.exporters.includes('prometheus');
  // The spec's OTEL_SDK_DISABLED: no-op telemetry. The console is not the SDK, and health stays.
  if (otelAsked && config.sdk.disabled) log.info('sdk.disabled: no OpenTelemetry export (no OTLP, no Prometheus /metrics); probes, console and health carry on');
  const telemetry: Telemetry | undefined = otelAsked && !config.sdk.disabled ? await startTelemetry(config, log) : undefined;
  const meter: Meter = telemetry?.meter ?? createNoopMeter();
  // Every console line passes printableLine(): the names in it are chosen by the watched processes.
  const write = opts.write ?? ((line: string) => process.stdout.write(printableLine(line) + '\n'));

  const recent = new RecentSpans();
  const runs: ProbeRun[] = probes.map((p) => {
    const section = sectionOf(config, p);
    const prefix = probes.length > 1 ? `${p.name.padEnd(8)} ` : '';
    return {
      definition: p.definition as ProbeRun['definition'],
      config: section,
      strategy: (section as { strategy?: string }).strategy ?? 'auto',
      exporters: exportersOf(p, section, { telemetry, meter, config, log, kernel, write, prefix, recent }),
    };
  });

  let probeStop: (why: string) => void = () => {};
  // Set only when a probe ended the run and passes on a code (a signal's stop exits 0).
  let exitCode: number | undefined;
  const probeStopped = new Promise<string>((resolve) => { probeStop = resolve; });
  const runtime = new Runtime({
    interval: config.interval, log, kernel,
    requestStop: (why, code) => {
      exitCode ??= code;
      probeStop(why);
    },
  });
  selfMetrics(meter, runtime);
  const health = new Health({ enabled: runs.map((r) => r.definition.name), telemetry, sdkDisabled: config.sdk.disabled, exportFailureMs: config.health.export_failure_s * 1000 });
  let servers: HttpServer[];
  try {
    servers = await serveEndpoints(config, health, telemetry);
  } catch (err) {
    await telemetry?.shutdown();
    throw err;
  }

  let stopped = false;
  const stop = async (why: string) => {
    if (stopped) return;
    stopped = true;
    log.debug(`stopping: ${why}`);
    runtime.stop();
    await Promise.all([telemetry?.shutdown(), ...servers.map((s) => s.close())]);
  };

  try {
    runtime.start(runs);
    health.attached(runtime);
    if (runtime.attachedCount === 0) {
      throw new RuntimeFailure(`no probe could attach on kernel ${kernel.release}: ${runtime.status.map((s) => `${s.probe}: ${s.refused.map((r) => r.reason).join('; ') || 'not started'}`).join(' | ')}`);
    }
    const reasons: Array<Promise<string>> = [opts.stopSignal, probeStopped];
    let durationTimer: NodeJS.Timeout | undefined;
    if (config.duration > 0) {
      reasons.push(new Promise((resolve) => { durationTimer = setTimeout(() => resolve('duration elapsed'), config.duration * 1000); }));
    }
    const first = await Promise.race(reasons.map((p) => p.then((why) => ({ why, byProbe: p === probeStopped }))));
    if (durationTimer) clearTimeout(durationTimer);
    await stop(first.why);
    return first.byProbe ? exitCode ?? 0 : 0;
  } finally {
    await stop('error');
  }
}
