// mem-watcher itself, as users run it (bin/mem-watcher), started for a benchmark window and
// stopped the way users stop it (SIGINT).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { probeNamed } from '../src/app/registry.ts';
import { loadConfig } from '../src/app/config.ts';
import { silentLogger } from '../src/log.ts';
import { readKernelInfo } from '../src/host/kernel.ts';
import { Runtime, type ProbeRun } from '../src/runtime/runtime.ts';
import { ROOT } from './cbuild.ts';

/** The kernel probes of the default set; growth (every process, off by default) is measured apart. */
export const KERNEL_PROBES = ['procstat', 'sysstat', 'paf', 'pr'] as const;
export type KernelProbe = (typeof KERNEL_PROBES)[number] | 'growth';
const FLAG: Record<KernelProbe, string> = { procstat: '-r', sysstat: '-s', paf: '-a', pr: '-p', growth: '-g' };

/** The kernel probes this tree implements (registered in src/app/registry.ts) right now. */
export function availableProbes(): KernelProbe[] {
  return KERNEL_PROBES.filter((p) => probeNamed(p) !== undefined);
}

export function hasGrowth(): boolean {
  return probeNamed('growth') !== undefined;
}

export type Exporter = 'none' | 'console' | 'otlp';

export interface AgentOptions {
  probes: readonly KernelProbe[];
  exporter: Exporter;
  /** OTLP endpoint base URL for the otlp exporter. */
  otlpUrl?: string;
  interval?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
}

export interface Agent {
  pid: number;
  /** Probe -> strategy it attached with (absent: skipped). */
  attached: Record<string, string>;
  stderr(): string;
  stop(): Promise<number | null>;
}

export async function startAgent(o: AgentOptions): Promise<Agent> {
  const args = ['-v', ...o.probes.map((p) => FLAG[p]), '--exporter', o.exporter, '--interval', String(o.interval ?? 1), ...(o.extraArgs ?? [])];
  const devnull = openSync('/dev/null', 'w');
  let child: ChildProcess;
  try {
    child = spawn(join(ROOT, 'bin/mem-watcher'), args, {
      stdio: ['ignore', devnull, 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        ...(o.otlpUrl ? { OTEL_EXPORTER_OTLP_ENDPOINT: o.otlpUrl } : {}),
        ...o.env,
      },
    });
  } finally {
    closeSync(devnull);
  }
  let err = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const attached: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mem-watcher ${args.join(' ')} did not attach within 30 s:\n${err.slice(-2000)}`)), 30_000);
    const settled = new Set<string>();
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19));
      for (const m of err.matchAll(/(\w+): attached with (\w+)/g)) { attached[m[1]!] = m[2]!; settled.add(m[1]!); }
      for (const m of err.matchAll(/(\w+) skipped/g)) settled.add(m[1]!);
      if (o.probes.every((p) => settled.has(p))) { clearTimeout(timer); resolve(); }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`mem-watcher ${args.join(' ')} exited ${code} before attaching:\n${err.slice(-2000)}`)); });
  });
  return {
    pid: child.pid!,
    attached,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * The probes' kernel side alone, loaded in this process through the real runtime (attach loop,
 * ring buffers polled, records decoded and dropped): what a storm pays for, without a Node
 * start-up per condition. For the CI slice; the full benchmark runs the CLI.
 */
export function attachInProcess(probes: readonly KernelProbe[]): { stop(): void } {
  const { config } = loadConfig({ env: { MEMWATCHER_INTERVAL: '1' } });
  const runtime = new Runtime({ interval: config.interval, log: silentLogger, kernel: readKernelInfo() });
  runtime.start(probes.map((p) => ({
    definition: probeNamed(p)!.definition as ProbeRun['definition'],
    config: (config.probes as Record<string, unknown>)[p],
    strategy: 'auto',
    exporters: [],
  })));
  const missing = runtime.status.filter((s) => !s.strategy).map((s) => `${s.probe}: ${s.refused.map((r) => r.reason).join('; ')}`);
  if (missing.length) {
    runtime.stop();
    throw new Error(`probes did not attach: ${missing.join(' | ')}`);
  }
  return { stop: () => runtime.stop() };
}
