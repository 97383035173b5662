// The sidecar's own cost: CPU (fraction of one core) and RSS of the mem-watcher process, read
// from /proc/PID/stat and /proc/PID/status, on an idle host and while storms run; then with
// thousands of short-lived processes churning (procstat's per-process state and the metric
// cardinality must stay bounded).
import { startOtlpReceiver, type OtlpReceiver } from '../harness/otlp-receiver.ts';
import { availableProbes, startAgent, type Exporter, type KernelProbe } from '../harness/agent.ts';
import { cProgram } from '../harness/cbuild.ts';
import { cpuFraction, sampleProc, type ProcSample } from './lib/proc.ts';
import { sleep } from '../harness/stats.ts';
import { pagefaultStorm, pipeStorm } from '../harness/storms.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface FootprintRow {
  probes: KernelProbe[];
  exporter: Exporter;
  idleCpu: number;
  idleRssKb: number;
  stormCpu: number;
  stormRssKb: number;
  peakRssKb: number;
}

export interface ChurnResult {
  probes: KernelProbe[];
  procs: number;
  seconds: number;
  cpu: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  peakRssKb: number;
  /** Most process.memory.usage data points in one export (bounded by procstat's --top). */
  maxPointsPerExport: number;
  /** Distinct process.pid values seen across all exports during and after the churn. */
  distinctPids: number;
}

async function window(pid: number, seconds: number, load?: () => Promise<unknown>): Promise<{ cpu: number; end: ProcSample }> {
  const a = sampleProc(pid)!;
  if (load) await load();
  else await sleep(seconds * 1000);
  const b = sampleProc(pid)!;
  return { cpu: cpuFraction(a, b), end: b };
}

/** Both storms at once for about `seconds`. */
async function storm(seconds: number): Promise<void> {
  const until = performance.now() + seconds * 1000;
  await Promise.all([
    pagefaultStorm(seconds),
    (async () => { while (performance.now() < until) await pipeStorm(20_000); })(),
  ]);
}

export async function footprintBench(o: { warmSeconds: number; windowSeconds: number; configs?: Array<{ probes: KernelProbe[]; exporter: Exporter }> }): Promise<FootprintRow[]> {
  const all = availableProbes();
  const configs = o.configs ?? [
    { probes: ['sysstat'], exporter: 'none' },
    { probes: ['sysstat'], exporter: 'console' },
    { probes: ['sysstat'], exporter: 'otlp' },
    { probes: all, exporter: 'none' },
    { probes: all, exporter: 'otlp' },
  ];
  const rows: FootprintRow[] = [];
  for (const c of configs) {
    const receiver = c.exporter === 'otlp' ? await startOtlpReceiver() : undefined;
    const agent = await startAgent({ probes: c.probes, exporter: c.exporter, ...(receiver ? { otlpUrl: receiver.url } : {}) });
    try {
      await sleep(o.warmSeconds * 1000);
      const idle = await window(agent.pid, o.windowSeconds);
      const busy = await window(agent.pid, o.windowSeconds, () => storm(o.windowSeconds));
      rows.push({ probes: c.probes, exporter: c.exporter, idleCpu: idle.cpu, idleRssKb: idle.end.rssKb, stormCpu: busy.cpu, stormRssKb: busy.end.rssKb, peakRssKb: busy.end.hwmKb });
    } finally {
      await agent.stop();
      await receiver?.close();
    }
  }
  return rows;
}

function pointsPerExport(receiver: OtlpReceiver): { max: number; pids: Set<number> } {
  let max = 0;
  const pids = new Set<number>();
  for (const m of receiver.metrics()) {
    if (m.name !== 'process.memory.usage') continue;
    max = Math.max(max, m.points.length);
    for (const p of m.points) if (typeof p.attributes['process.pid'] === 'number') pids.add(p.attributes['process.pid']);
  }
  return { max, pids };
}

export async function churnBench(o: { procs: number; warmSeconds: number }): Promise<ChurnResult | undefined> {
  const all = availableProbes();
  if (!all.includes('procstat')) return undefined;
  const receiver = await startOtlpReceiver();
  const agent = await startAgent({ probes: all, exporter: 'otlp', otlpUrl: receiver.url });
  try {
    await sleep(o.warmSeconds * 1000);
    const before = sampleProc(agent.pid)!;
    const t0 = performance.now();
    const w = await window(agent.pid, 0, () => run(cProgram('churn'), [String(o.procs)], { timeout: 120_000 }));
    const seconds = (performance.now() - t0) / 1000;
    await sleep(2500); // the exports that follow the churn
    const after = sampleProc(agent.pid)!;
    const { max, pids } = pointsPerExport(receiver);
    return {
      probes: all, procs: o.procs, seconds, cpu: w.cpu,
      rssBeforeKb: before.rssKb, rssAfterKb: after.rssKb, peakRssKb: after.hwmKb,
      maxPointsPerExport: max, distinctPids: pids.size,
    };
  } finally {
    await agent.stop();
    await receiver.close();
  }
}
