// Scaling: how the costs grow with the number of processes on the host, the CPUs a storm runs
// on, and the allocations memleak holds, each beside its baseline in the same run.
//  - processes: N extra live, sleeping processes (bench/c/sleepers); the agent with every
//    kernel probe: its CPU and RSS, procstat's iterator time (kernel BPF statistics), the
//    per-process series an export carries (bounded by probes.procstat.top); and the
//    context-switch storm's ratio, probes against none, at the smallest and largest N;
//  - CPUs: both storms on one CPU and on two (one copy pinned to each), with no probes and with
//    every kernel probe, interleaved;
//  - memleak: bench/c/malloc-hold keeps N blocks from four call sites; the probe, hosted alone
//    in its own process (bench/lib/memleak-host.ts), traces the allocations: kernel memory of
//    its maps, RSS, the time to build one report (and the walk --memleak-min-age makes, and the
//    final report when the process exits), and whether the report counts every block.
//   node bench/scaling.ts [--quick] [--parts processes,cpus,memleak]   (also `npm run bench`
//   with --only scaling)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startOtlpReceiver, type OtlpReceiver } from '../harness/otlp-receiver.ts';
import { availableProbes, hasGrowth, startAgent, type KernelProbe } from '../harness/agent.ts';
import { enableBpfStats, loadedHookPrograms, programsOf } from '../harness/bpfstats.ts';
import { cProgram, ROOT } from '../harness/cbuild.ts';
import type { HostReply, MapMemory, ReportSummary } from './lib/memleak-host.ts';
import { cpuFraction, sampleProc } from './lib/proc.ts';
import { median, pct, si, sleep } from '../harness/stats.ts';
import { pagefaultStorm, perCpu, perWall, pipeStorm, pipeTool, stormOnCpus, type StormRun } from '../harness/storms.ts';
import { overheadBench, type Condition, type OverheadResult } from './overhead.ts';

const PARTS = ['processes', 'cpus', 'memleak'] as const;
type Part = (typeof PARTS)[number];

// ---- processes ---------------------------------------------------------------------------

export interface ProcessesRow {
  procs: number;
  /** Kernel threads and processes on the host while measured (/proc/loadavg's count of tasks). */
  tasks: number;
  spawnSeconds: number;
  windowSeconds: number;
  agentCpu: number;
  rssKb: number;
  hwmKb: number;
  /** procstat_iter over the window: runs (one per task visited) and kernel time. */
  iterRuns: number;
  iterNs: number;
  /** Most process.memory.usage points (one per process) in one export, and exports seen. */
  maxSeriesPerExport: number;
  exports: number;
  /** Metrics that carry a point per process. */
  perProcessMetrics: number;
}

/** growth alone on every process, with the same extra processes alive. */
export interface GrowthRow {
  procs: number;
  /** From the agent's start to growth's "attached" line: the unwind tables of every process built. */
  attachSeconds: number;
  agentCpu: number;
  rssKb: number;
  hwmKb: number;
  /** Unwind table rows in the kernel, from the agent's debug line. */
  rows?: number;
}

export interface ProcessesResult {
  top: number;
  kib: number;
  rows: ProcessesRow[];
  growth?: GrowthRow[];
  storms: Array<{ procs: number; overhead: OverheadResult }>;
}

function hostTasks(): number {
  return Number(/\d+\/(\d+)/.exec(readFileSync('/proc/loadavg', 'utf8'))?.[1] ?? NaN);
}

function lines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

async function nextLine(it: AsyncIterator<string>, what: string, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
    if (r.done) throw new Error(`${what}: output ended`);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', () => { clearTimeout(timer); resolve(); });
  });
}

/** N sleeping processes for the duration of `f`; they are killed and reaped afterwards. */
async function withSleepers<T>(procs: number, kib: number, f: (spawnSeconds: number) => Promise<T>): Promise<T> {
  const child = spawn(cProgram('sleepers'), [String(procs), String(kib)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const up = JSON.parse(await nextLine(lines(child), 'sleepers', 120_000)) as { procs: number; seconds: number };
    return await f(up.seconds);
  } finally {
    child.stdin!.end();
    await exited(child, 60_000);
  }
}

function seriesPerExport(receiver: OtlpReceiver): { max: number; exports: number; perProcessMetrics: number } {
  let max = 0;
  let exports = 0;
  const names = new Set<string>();
  for (const m of receiver.metrics()) {
    if (m.points.some((p) => p.attributes['process.pid'] !== undefined)) names.add(m.name);
    if (m.name !== 'process.memory.usage') continue;
    exports++;
    max = Math.max(max, new Set(m.points.map((p) => p.attributes['process.pid'])).size);
  }
  return { max, exports, perProcessMetrics: names.size };
}

async function agentWithProcesses(procs: number, spawnSeconds: number, probes: KernelProbe[], o: { warmSeconds: number; windowSeconds: number }): Promise<ProcessesRow> {
  const receiver = await startOtlpReceiver();
  const agent = await startAgent({ probes, exporter: 'otlp', otlpUrl: receiver.url, interval: 1 });
  let restore: (() => void) | undefined;
  try {
    await sleep(o.warmSeconds * 1000);
    restore = enableBpfStats();
    const iter = () => programsOf(agent.pid).filter((p) => p.name === 'procstat_iter');
    const i0 = iter();
    const s0 = sampleProc(agent.pid)!;
    await sleep(o.windowSeconds * 1000);
    const s1 = sampleProc(agent.pid)!;
    const i1 = iter();
    const tasks = hostTasks();
    restore();
    restore = undefined;
    await sleep(1500); // the export of the last interval
    const sum = (xs: typeof i0, k: 'runCnt' | 'runTimeNs') => xs.reduce((a, p) => a + p[k], 0);
    const series = seriesPerExport(receiver);
    return {
      procs, tasks, spawnSeconds, windowSeconds: (s1.wallMs - s0.wallMs) / 1000,
      agentCpu: cpuFraction(s0, s1), rssKb: s1.rssKb, hwmKb: s1.hwmKb,
      iterRuns: sum(i1, 'runCnt') - sum(i0, 'runCnt'), iterNs: sum(i1, 'runTimeNs') - sum(i0, 'runTimeNs'),
      maxSeriesPerExport: series.max, exports: series.exports, perProcessMetrics: series.perProcessMetrics,
    };
  } finally {
    restore?.();
    await agent.stop();
    await receiver.close();
  }
}

async function growthWithProcesses(procs: number, o: { warmSeconds: number; windowSeconds: number }): Promise<GrowthRow> {
  const t0 = performance.now();
  const agent = await startAgent({ probes: ['growth'], exporter: 'none', interval: 1 });
  const attachSeconds = (performance.now() - t0) / 1000;
  try {
    await sleep(o.warmSeconds * 1000);
    const s0 = sampleProc(agent.pid)!;
    await sleep(o.windowSeconds * 1000);
    const s1 = sampleProc(agent.pid)!;
    return { procs, attachSeconds, agentCpu: cpuFraction(s0, s1), rssKb: s1.rssKb, hwmKb: s1.hwmKb };
  } finally {
    await agent.stop();
  }
}

export async function processesScaling(o: { counts: number[]; stormAt: number[]; reps: number; kib: number; warmSeconds: number; windowSeconds: number }): Promise<ProcessesResult> {
  const all = availableProbes();
  const conds: Condition[] = [{ name: 'no probes', probes: [] }, { name: `all (${all.join(', ')})`, probes: all }];
  const out: ProcessesResult = { top: 50, kib: o.kib, rows: [], storms: [], growth: hasGrowth() ? [] : undefined };
  for (const procs of o.counts) {
    await withSleepers(procs, o.kib, async (spawnSeconds) => {
      out.rows.push(await agentWithProcesses(procs, spawnSeconds, all, o));
      await sleep(1000);
      if (out.growth) {
        out.growth.push(await growthWithProcesses(procs, o));
        await sleep(1000);
      }
      if (o.stormAt.includes(procs)) {
        out.storms.push({ procs, overhead: await overheadBench({ reps: o.reps, pipeLoops: 100_000, pagefaultSeconds: 0, conditions: conds }) });
      }
    });
    await sleep(1000); // the processes' exit work, off the next measurement
  }
  return out;
}

// ---- CPUs used by the storm --------------------------------------------------------------

export interface CpuFigures {
  cpus: number;
  storm: 'pipe' | 'pagefault';
  /** Median per CPU-second and per wall-clock second, no probes and all probes. */
  base: { perCpu: number; perWall: number; runs: StormRun[] };
  probed: { perCpu: number; perWall: number; runs: StormRun[]; agentCpu: number };
  ratio: number;
  wallRatio: number;
}

export interface CpusResult {
  reps: number;
  pipeTool: string;
  pipeLoops: number;
  pagefaultSeconds: number;
  probes: KernelProbe[];
  rows: CpuFigures[];
  foreignPrograms: string[];
}

export async function cpusScaling(o: { reps: number; pipeLoops: number; pagefaultSeconds: number }): Promise<CpusResult> {
  const all = availableProbes();
  const counts = [...new Set([1, Math.min(2, os.availableParallelism())])];
  const combos = counts.flatMap((cpus) => (['pipe', 'pagefault'] as const).map((storm) => ({ cpus, storm })));
  const runOne = (c: (typeof combos)[number]) => stormOnCpus(c.cpus, (cpu) => c.storm === 'pipe' ? pipeStorm(o.pipeLoops, undefined, cpu) : pagefaultStorm(o.pagefaultSeconds, cpu));
  const key = (probed: boolean, c: (typeof combos)[number]) => `${probed}|${c.cpus}|${c.storm}`;
  const runs = new Map<string, StormRun[]>();
  const agentCpu = new Map<string, number[]>();
  const foreign = new Set<string>();
  for (const c of combos) await runOne(c); // discarded: cold caches
  for (let rep = 0; rep < o.reps; rep++) {
    for (let i = 0; i < 2; i++) {
      const probed = (i + rep) % 2 === 1;
      if (!probed) for (const name of loadedHookPrograms()) foreign.add(name);
      const agent = probed ? await startAgent({ probes: all, exporter: 'none', interval: 1 }) : undefined;
      try {
        if (agent) await sleep(300);
        for (let j = 0; j < combos.length; j++) {
          const c = combos[(j + rep) % combos.length]!;
          const s0 = agent && sampleProc(agent.pid);
          const r = await runOne(c);
          const s1 = agent && sampleProc(agent.pid);
          (runs.get(key(probed, c)) ?? runs.set(key(probed, c), []).get(key(probed, c))!).push(r);
          if (s0 && s1) (agentCpu.get(key(probed, c)) ?? agentCpu.set(key(probed, c), []).get(key(probed, c))!).push(cpuFraction(s0, s1));
        }
      } finally {
        await agent?.stop();
      }
      if (agent) await sleep(1000); // the kernel frees the closed object's programs in deferred work
    }
  }
  const rows = combos.map((c): CpuFigures => {
    const b = runs.get(key(false, c))!;
    const p = runs.get(key(true, c))!;
    const base = { perCpu: median(b.map(perCpu)), perWall: median(b.map(perWall)), runs: b };
    const probed = { perCpu: median(p.map(perCpu)), perWall: median(p.map(perWall)), runs: p, agentCpu: median(agentCpu.get(key(true, c)) ?? []) };
    return { ...c, base, probed, ratio: probed.perCpu / base.perCpu, wallRatio: probed.perWall / base.perWall };
  });
  return { reps: o.reps, pipeTool: pipeTool(), pipeLoops: o.pipeLoops, pagefaultSeconds: o.pagefaultSeconds, probes: all, rows, foreignPrograms: [...foreign].sort() };
}

// ---- memleak with outstanding allocations ------------------------------------------------

export interface SiteCheck {
  function: string;
  size: number;
  count: number;
  reportedBytes?: number;
  reportedAllocations?: number;
  ok: boolean;
}

export interface MemleakRow {
  blocks: number;
  /** The program's time for its N mallocs, untraced (the baseline) and traced. */
  untracedSeconds: number;
  allocSeconds: number;
  maps: MapMemory[];
  rssAttachedKb: number;
  rssReportKb: number;
  rssMinAgeKb: number;
  hwmKb: number;
  firstReport: { pollMs: number; totalMs: number; mapReadMs: number };
  /** The three reports after the first, medians. */
  nextReport: { pollMs: number; totalMs: number; mapReadMs: number };
  minAgeMapReadMs: number;
  exit: { pollMs: number; totalMs: number };
  report: ReportSummary;
  sites: SiteCheck[];
  /** Report totals equal the blocks allocated, per site and overall, in every report. */
  ok: boolean;
  problems: string[];
}

export interface MemleakScaling {
  maxAllocations: number;
  rows: MemleakRow[];
}

const HOLD_FLAGS = ['-g', '-fno-omit-frame-pointer', '-fno-optimize-sibling-calls'];

class Host {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;

  constructor(env: Record<string, string>) {
    this.#child = spawn(process.execPath, [join(ROOT, 'bench/lib/memleak-host.ts')], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    });
    this.#lines = lines(this.#child);
  }

  get pid(): number {
    return this.#child.pid!;
  }

  async next<E extends HostReply['event']>(event: E, timeoutMs = 120_000): Promise<Extract<HostReply, { event: E }>> {
    const r = JSON.parse(await nextLine(this.#lines, 'memleak host', timeoutMs)) as HostReply;
    if (r.event === 'error') throw new Error(`memleak host: ${r.error}`);
    if (r.event !== event) throw new Error(`memleak host: ${r.event} where ${event} was expected`);
    return r as Extract<HostReply, { event: E }>;
  }

  ask<E extends Exclude<HostReply['event'], 'attached' | 'error'>>(cmd: E): Promise<Extract<HostReply, { event: E }>> {
    this.#child.stdin!.write(cmd + '\n');
    return this.next(cmd);
  }

  async close(): Promise<void> {
    this.#child.stdin!.end('stop\n');
    await exited(this.#child, 30_000);
  }
}

function checkSites(sites: Array<{ function: string; size: number; count: number }>, report: ReportSummary, label: string, problems: string[]): SiteCheck[] {
  return sites.map((s) => {
    const got = report.stacks.filter((x) => x.site === s.function);
    const bytes = got.reduce((a, x) => a + x.bytes, 0);
    const allocations = got.reduce((a, x) => a + x.allocations, 0);
    const ok = got.length === 1 && bytes === s.size * s.count && allocations === s.count;
    if (!ok) problems.push(`${label}: ${s.function}: ${got.length} stacks, ${allocations} blocks / ${bytes} bytes reported, ${s.count} / ${s.size * s.count} allocated`);
    return { ...s, ...(got.length ? { reportedBytes: bytes, reportedAllocations: allocations } : {}), ok };
  });
}

interface HoldDone {
  blocks: number;
  seconds: number;
  sites: Array<{ function: string; size: number; count: number }>;
}

/** The program alone: its time for the N mallocs with no tracer. */
async function untraced(blocks: number): Promise<number> {
  const target = spawn(cProgram('malloc-hold', HOLD_FLAGS), [String(blocks)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const out = lines(target);
    if ((await nextLine(out, 'malloc-hold', 30_000)) !== 'ready') throw new Error('malloc-hold: no ready line');
    target.stdin!.write('go\n');
    return (JSON.parse(await nextLine(out, 'malloc-hold', 60_000)) as HoldDone).seconds;
  } finally {
    target.kill('SIGKILL');
    await exited(target, 10_000);
  }
}

async function memleakOnce(blocks: number, maxAllocations: number): Promise<MemleakRow> {
  const untracedSeconds = await untraced(blocks);
  const target = spawn(cProgram('malloc-hold', HOLD_FLAGS), [String(blocks)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const out = lines(target);
  let host: Host | undefined;
  try {
    if ((await nextLine(out, 'malloc-hold', 30_000)) !== 'ready') throw new Error('malloc-hold: no ready line');
    host = new Host({
      MEMWATCHER_PROBES_MEMLEAK_PIDS: String(target.pid),
      MEMWATCHER_INTERVAL: '3600',
      MEMWATCHER_PROBES_MEMLEAK_MAX_ALLOCATIONS: String(maxAllocations),
    });
    const attached = await host.next('attached', 60_000);
    target.stdin!.write('go\n');
    // uprobe + uretprobe per malloc: tens of microseconds each on this VM.
    const done = JSON.parse(await nextLine(out, 'malloc-hold', 60_000 + blocks * 0.3)) as HoldDone;
    const first = await host.ask('report');
    const nexts = [await host.ask('report'), await host.ask('report'), await host.ask('report')];
    const next = nexts[nexts.length - 1]!;
    const maps = await host.ask('maps');
    const minAge = await host.ask('minage');
    const end = await host.ask('end');
    const problems: string[] = [];
    const sites = checkSites(done.sites, next.report, 'report', problems);
    checkSites(done.sites, first.report, 'first report', problems);
    checkSites(done.sites, end.report, 'final report', problems);
    const bytes = done.sites.reduce((a, s) => a + s.size * s.count, 0);
    for (const [label, t] of [['report', next.report.totals], ['min-age walk', minAge], ['final report', end.report.totals]] as const) {
      if (t.allocations !== blocks || t.bytes !== bytes) problems.push(`${label}: totals ${t.allocations} blocks / ${t.bytes} bytes, ${blocks} / ${bytes} allocated`);
    }
    if (next.report.stats.allocsDropped) problems.push(`${next.report.stats.allocsDropped} allocations not tracked (the allocation map was full)`);
    if (end.report.ended !== 'exited') problems.push(`final report: ended ${end.report.ended ?? 'not set'}`);
    for (const [i, r] of nexts.entries()) if (i < nexts.length - 1) checkSites(done.sites, r.report, 'report', problems);
    return {
      blocks, untracedSeconds, allocSeconds: done.seconds, maps: maps.maps,
      rssAttachedKb: attached.rssKb, rssReportKb: next.rssKb, rssMinAgeKb: minAge.rssKb, hwmKb: minAge.hwmKb,
      firstReport: { pollMs: first.pollMs, totalMs: first.totalMs, mapReadMs: first.mapReadMs },
      nextReport: { pollMs: median(nexts.map((r) => r.pollMs)), totalMs: median(nexts.map((r) => r.totalMs)), mapReadMs: median(nexts.map((r) => r.mapReadMs)) },
      minAgeMapReadMs: minAge.mapReadMs,
      exit: { pollMs: end.pollMs, totalMs: end.totalMs }, report: next.report, sites, ok: problems.length === 0, problems,
    };
  } finally {
    await host?.close();
    target.kill('SIGKILL');
    await exited(target, 10_000);
  }
}

export async function memleakScaling(o: { blocks: number[]; maxAllocations?: number }): Promise<MemleakScaling> {
  const maxAllocations = o.maxAllocations ?? 1_000_000; // probes.memleak.max_allocations' default
  const rows: MemleakRow[] = [];
  for (const n of o.blocks) rows.push(await memleakOnce(n, maxAllocations));
  return { maxAllocations, rows };
}

// ---- the section -------------------------------------------------------------------------

export interface ScalingResult {
  quick: boolean;
  processes?: ProcessesResult;
  cpus?: CpusResult;
  memleak?: MemleakScaling;
  /** Per part: seconds it took and the 1-minute load average before and after. */
  runs: Record<string, { seconds: number; loadStart: number; loadEnd: number }>;
  errors: Array<{ part: string; error: string }>;
}

export async function scalingBench(o: { quick: boolean; parts?: readonly Part[] }): Promise<ScalingResult> {
  const parts = new Set(o.parts ?? PARTS);
  const r: ScalingResult = { quick: o.quick, runs: {}, errors: [] };
  const part = async (name: Part, f: () => Promise<void>) => {
    if (!parts.has(name)) return;
    const t0 = performance.now();
    const loadStart = os.loadavg()[0]!;
    process.stderr.write(`bench: scaling: ${name}...\n`);
    try {
      await f();
    } catch (err) {
      r.errors.push({ part: name, error: (err as Error).stack ?? String(err) });
      process.stderr.write(`bench: scaling: ${name} failed: ${(err as Error).message}\n`);
    }
    r.runs[name] = { seconds: (performance.now() - t0) / 1000, loadStart, loadEnd: os.loadavg()[0]! };
  };
  await part('processes', async () => {
    const counts = o.quick ? [0, 1000] : [0, 1000, 10_000];
    r.processes = await processesScaling({ counts, stormAt: [counts[0]!, counts.at(-1)!], reps: o.quick ? 2 : 5, kib: 32, warmSeconds: 3, windowSeconds: o.quick ? 3 : 5 });
  });
  await part('cpus', async () => {
    r.cpus = await cpusScaling({ reps: o.quick ? 2 : 6, pipeLoops: 100_000, pagefaultSeconds: 1 });
  });
  await part('memleak', async () => {
    r.memleak = await memleakScaling({ blocks: o.quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000] });
  });
  return r;
}

// ---- rendering ---------------------------------------------------------------------------

const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((x) => `| ${x.join(' | ')} |`)].join('\n');
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
const mibBytes = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const secs = (x: number) => (x < 1 ? `${(x * 1000).toFixed(x < 0.01 ? 2 : 0)} ms` : `${x.toFixed(1)} s`);
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const load = (r: ScalingResult, part: string) => {
  const x = r.runs[part];
  return x ? `1-min load average ${x.loadStart.toFixed(1)} → ${x.loadEnd.toFixed(1)}, ${x.seconds.toFixed(0)} s` : '';
};

function renderProcesses(p: ProcessesResult, r: ScalingResult): string {
  const rows = p.rows.map((x) => {
    const perSecond = (v: number) => v / x.windowSeconds;
    return [
      si(x.procs), si(x.tasks), pct(x.agentCpu), mib(x.rssKb),
      si(perSecond(x.iterRuns)), x.iterRuns ? `${Math.round(x.iterNs / x.iterRuns)}` : '-', (perSecond(x.iterNs) / 1e6).toFixed(2),
      `${x.maxSeriesPerExport} (of ${x.exports} exports)`,
    ];
  });
  const stormRows = p.storms.map((s) => {
    const [base, probed] = s.overhead.pipe;
    return [si(s.procs), base ? `${si(base.perCpu)} (${si(base.perWall)}/s wall)` : '-', probed ? `${si(probed.perCpu)} (${si(probed.perWall)}/s wall)` : '-', probed ? `${probed.ratio.toFixed(3)} (${probed.wallRatio.toFixed(2)} wall)` : '-', probed?.agentCpu === undefined ? '' : pct(probed.agentCpu)];
  });
  const probes = p.storms[0]?.overhead.pipe[1]?.probes.join(', ') ?? 'every kernel probe';
  const big = p.rows.at(-1);
  const small = p.rows[0];
  const growth = big && small && big.procs > small.procs
    ? ` From ${si(small.procs)} to ${si(big.procs)} extra processes the iterator's kernel time per pass went from ${(small.iterNs / small.windowSeconds / 1e6).toFixed(2)} to ${(big.iterNs / big.windowSeconds / 1e6).toFixed(1)} ms, linear in the tasks on the host (about ${Math.round((big.iterNs / big.iterRuns) || 0)} ns per task visited; it runs in the agent's own task, so it is part of the agent's CPU), the agent's CPU from ${pct(small.agentCpu)} to ${pct(big.agentCpu)} and its RSS from ${mib(small.rssKb)} to ${mib(big.rssKb)}; the series per export stayed at ${big.maxSeriesPerExport <= p.top ? `the top-${p.top} bound` : `**${big.maxSeriesPerExport}, past the top-${p.top} bound**`}.`
    : '';
  return [
    `**Processes.** bench/c/sleepers forks N extra processes that each touch ${p.kib} KiB and pause; mem-watcher runs with every kernel probe (\`--exporter otlp\` to a local receiver, \`--interval 1\`). Agent CPU (fraction of one core) and RSS from /proc over a window after start-up; procstat's task iterator (\`procstat_iter\`, one run per task visited, once per interval) timed by the kernel (\`kernel.bpf_stats_enabled=1\`) over the same window; series per export: the most \`process.memory.usage\` points (one per process) in one export (${p.rows[0]?.perProcessMetrics ?? '?'} metrics carry a point per process). ${load(r, 'processes')}.${growth}`,
    '',
    table(['extra processes', 'tasks on the host', 'agent CPU', 'agent RSS', 'iterator runs/s', 'ns/run', 'iterator kernel ms/s (per pass)', 'process series per export (max)'], rows),
    '',
    ...(p.growth?.length ? [
      'growth alone (`-g`, every process, `--exporter none`) with the same processes alive: the time from start to attached (every process\'s maps read and the unwind table of each distinct object built once; the sleepers share one binary and the C library), then agent CPU and RSS over the same window, and its peak RSS:',
      '',
      table(['extra processes', 'start to attached', 'agent CPU', 'agent RSS', 'peak RSS'], p.growth.map((g) => [si(g.procs), `${g.attachSeconds.toFixed(1)} s`, pct(g.agentCpu), mib(g.rssKb), mib(g.hwmKb)])),
      '',
    ] : []),
    ...(stormRows.length ? [
      `Context-switch storm (\`${p.storms[0]!.overhead.pipeTool}\`, ${si(p.storms[0]!.overhead.pipeLoops)} round trips, pinned to the last CPU) with those processes alive: no probes against ${probes} (\`--exporter none\`), ${p.storms[0]!.overhead.reps} repetitions interleaved, medians, per CPU-second of the storm:`,
      '',
      table(['extra processes', 'no probes', 'all probes', 'ratio', 'agent CPU'], stormRows),
      '',
    ] : []),
  ].join('\n');
}

function renderCpus(c: CpusResult, r: ScalingResult): string {
  const name = { pipe: 'context switch', pagefault: 'page fault' } as const;
  const unit = { pipe: 'round trips', pagefault: 'pages' } as const;
  const rows = c.rows.map((x) => [
    name[x.storm], String(x.cpus),
    `${si(x.base.perCpu)} ${unit[x.storm]} (${si(x.base.perWall)}/s wall)`,
    `${si(x.probed.perCpu)} (${si(x.probed.perWall)}/s wall)`,
    `${x.ratio.toFixed(3)} (${x.wallRatio.toFixed(2)} wall)`,
    pct(x.probed.agentCpu),
  ]);
  return [
    `**CPUs used by the storm.** Each storm on one CPU (the last, as above) and on two (one copy pinned to each CPU, at once: operations and CPU time summed), with no probes and with ${c.probes.join(', ')} (\`--exporter none --interval 1\`); ${c.reps} repetitions, the agent started once per condition and repetition, conditions and storms interleaved (order rotating), medians. \`${c.pipeTool}\` ${si(c.pipeLoops)} round trips a copy; bench/c/pagefault-storm ${c.pagefaultSeconds} s a copy. Ratios per CPU-second of the storm (the probes run in its context), wall-clock alongside: with both CPUs busy the agent and every other tenant take time from the storm itself. ${load(r, 'cpus')}.${c.foreignPrograms.length ? ` Other tenants' tracing programs were loaded during the no-probe runs: ${c.foreignPrograms.length}.` : ''}`,
    '',
    table(['storm', 'CPUs', 'no probes, per CPU-s', 'all probes, per CPU-s', 'ratio', 'agent CPU'], rows),
    '',
  ].join('\n');
}

function renderMemleak(m: MemleakScaling, r: ScalingResult): string {
  const rows = m.rows.map((x) => [
    si(x.blocks),
    `${secs(x.untracedSeconds)} (${((x.untracedSeconds / x.blocks) * 1e9).toFixed(0)} ns)`,
    `${secs(x.allocSeconds)} (${((x.allocSeconds / x.blocks) * 1e6).toFixed(1)} µs)`,
    `${ms(x.nextReport.mapReadMs)} / ${ms(x.firstReport.totalMs)} / ${ms(x.nextReport.totalMs)}`,
    ms(x.minAgeMapReadMs),
    `${ms(x.exit.pollMs)} / ${ms(x.exit.totalMs)}`,
    `${mib(x.rssAttachedKb)} → ${mib(x.rssReportKb)} → ${mib(x.rssMinAgeKb)} (${mib(x.hwmKb)})`,
    x.ok ? `exact (${x.sites.length} stacks, ${si(x.report.totals.allocations)} blocks, ${mibBytes(x.report.totals.bytes)})` : `**wrong**: ${x.problems.join('; ')}`,
  ]);
  const names = [...new Set(m.rows.flatMap((x) => x.maps.map((y) => y.name)))];
  const mapRows = names.map((n) => {
    const first = m.rows.flatMap((x) => x.maps).find((y) => y.name === n)!;
    return [`\`${n}\``, first.type, si(first.maxEntries), `${first.keyBytes} + ${first.valueBytes}`, ...m.rows.map((x) => {
      const y = x.maps.find((z) => z.name === n);
      return y ? mibBytes(y.memlockBytes) : '-';
    })];
  });
  const totals = ['**total**', '', '', '', ...m.rows.map((x) => `**${mibBytes(x.maps.reduce((a, y) => a + y.memlockBytes, 0))}**`)];
  const largest = m.rows.at(-1);
  const smallest = m.rows[0];
  const fill = largest && largest.blocks >= m.maxAllocations
    ? ` ${si(largest.blocks)} blocks fill the allocation map (\`allocs\`: \`probes.memleak.max_allocations\`, default ${si(m.maxAllocations)}, set by the config file or \`MEMWATCHER_PROBES_MEMLEAK_MAX_ALLOCATIONS\`, no flag)${largest.report.stats.allocsDropped === 0 ? ': every block fitted because the program allocates nothing else under trace; a program with more live blocks has those past the limit untracked (the report counts them as allocations dropped) until the limit is raised' : `: ${si(largest.report.stats.allocsDropped)} allocations were not tracked`}.`
    : '';
  const allocs = (x: MemleakRow) => x.maps.find((y) => y.name === 'allocs');
  const growth = largest && smallest && largest !== smallest
    ? ` From ${si(smallest.blocks)} to ${si(largest.blocks)} live blocks the report's map read went from ${ms(smallest.nextReport.mapReadMs)} to ${ms(largest.nextReport.mapReadMs)} ms (it reads only the per-stack totals and the top stacks), while the min-age walk went from ${ms(smallest.minAgeMapReadMs)} to ${ms(largest.minAgeMapReadMs)} ms and took the process's RSS from ${mib(largest.rssReportKb)} to ${mib(largest.rssMinAgeKb)} at ${si(largest.blocks)} (it streams every entry of the per-allocation map through JavaScript, one batch at a time).${allocs(largest) && allocs(smallest) && allocs(largest)!.memlockBytes === allocs(smallest)!.memlockBytes ? ` The allocation map is preallocated: its ${mibBytes(allocs(largest)!.memlockBytes)} are held from attach, whatever the number of blocks.` : ''}`
    : '';
  return [
    `**memleak with outstanding allocations.** bench/c/malloc-hold (-O2, frame pointers) mallocs N blocks round robin from four call sites (24, 40, 72 and 136 bytes: four stacks) and keeps them; the memleak probe runs alone in a process of its own (bench/lib/memleak-host.ts: the probe's real attach on the pid and its real report path, no exporter), attached before the first allocation. Allocation: the program's own time for the N mallocs, alone and then under trace (per malloc in parentheses; traced, each malloc runs a uprobe and a uretprobe that takes a user stack). Report: the map read alone (per-stack totals, the top stacks' frames) / the first report, from the runtime's poll to the report emitted (symbolizer started cold) / the next three (median). \`--memleak-min-age\`: the map read a report with an age filter makes (it walks the per-allocation map). Exit: the target killed, the poll that handles it (its final snapshot; its map entries are left to the object's close, as it is the last traced process) / until the final report. RSS of that process after attach → after the reports → after the min-age walk (peak). Check: every report's bytes and count for each of the four stacks, and its totals, equal what the program allocated. ${load(r, 'memleak')}.${growth}${fill}`,
    '',
    table(['live blocks', 'allocation untraced (per malloc)', 'under trace', 'report ms: map read / first / next', 'min-age map read, ms', 'exit ms: poll / final report', 'RSS', 'report vs allocated'], rows),
    '',
    `Kernel memory held by memleak's maps (bytes_memlock, what the kernel charges each map; one object per run), with N blocks live:`,
    '',
    table(['map', 'type', 'max entries', 'key + value bytes', ...m.rows.map((x) => `N = ${si(x.blocks)}`)], [...mapRows, totals]),
    '',
  ].join('\n');
}

export function renderScaling(r: ScalingResult): string {
  const parts: string[] = [];
  if (r.processes) parts.push(renderProcesses(r.processes, r));
  if (r.cpus) parts.push(renderCpus(r.cpus, r));
  if (r.memleak) parts.push(renderMemleak(r.memleak, r));
  for (const e of r.errors) parts.push(`- ${e.part} failed: ${e.error.split('\n')[0]}`);
  return parts.join('\n').trim();
}

export async function benchSection({ quick }: { quick: boolean }): Promise<{ title: string; markdown: string; data: unknown }> {
  const r = await scalingBench({ quick });
  return { title: 'Scaling: processes, storm CPUs, outstanding allocations', markdown: renderScaling(r), data: r };
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--parts');
  const parts = i >= 0 ? (argv[i + 1] ?? '').split(',').filter((p): p is Part => (PARTS as readonly string[]).includes(p)) : undefined;
  const r = await scalingBench({ quick: argv.includes('--quick'), ...(parts ? { parts } : {}) });
  process.stdout.write(renderScaling(r) + '\n');
  if (argv.includes('--json')) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  if (r.errors.length) process.exitCode = 1;
}
