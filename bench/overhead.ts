// What the probes cost the work they observe: a context-switch storm and a page-fault storm,
// each with no agent and with mem-watcher running a set of probes, interleaved (A/B/C/A/B/C,
// rotating) so drift on a shared host hits every condition alike; medians and ratios to the
// no-probe median of the same run, per CPU-second of the storm (the budget figure) and per
// wall-clock second. Then per-program cost from the kernel's BPF statistics.
import { join } from 'node:path';
import { BpfObject } from '../src/libbpf/object.ts';
import { BPF_OBJECT_DIR } from '../src/runtime/attach.ts';
import { attachInProcess, availableProbes, hasGrowth, startAgent, type KernelProbe } from '../harness/agent.ts';
import { enableBpfStats, loadedHookPrograms, programsOf, type ProgStats } from '../harness/bpfstats.ts';
import { cpuFraction, sampleProc } from './lib/proc.ts';
import { median, sleep } from '../harness/stats.ts';
import { pagefaultStorm, perCpu, perWall, pipeStorm, pipeTool, type StormRun } from '../harness/storms.ts';

export interface Condition {
  name: string;
  probes: KernelProbe[];
  /** Instead of mem-watcher: one program of a bench object (build/bpf), attached by the bench itself. */
  hook?: { object: string; program: string };
}

/** An empty program on kmem:mm_page_alloc (bpf/bench_floor.bpf.c): the least paf's failure hook can cost. */
export const FLOOR: Condition = { name: 'empty program on mm_page_alloc', probes: [], hook: { object: 'bench_floor', program: 'bench_floor_page_alloc' } };

function attachHook(hook: NonNullable<Condition['hook']>): { stop(): void } {
  const obj = BpfObject.open(join(BPF_OBJECT_DIR, `${hook.object}.bpf.o`));
  try {
    for (const p of obj.programs()) p.setAutoload(p.name === hook.program);
    obj.load();
    obj.program(hook.program).attach();
  } catch (err) {
    obj.close();
    throw err;
  }
  return { stop: () => obj.close() };
}

const SETTLE_MS = 1000;

export interface StormFigures {
  condition: string;
  probes: KernelProbe[];
  runs: StormRun[];
  /** Median operations per CPU-second of the storm, and its ratio to the no-probe median. */
  perCpu: number;
  ratio: number;
  /** The same per wall-clock second. */
  perWall: number;
  wallRatio: number;
  /** The agent's CPU while the storm ran (fraction of one core), median. */
  agentCpu?: number;
}

export interface OverheadResult {
  reps: number;
  pipeTool: string;
  pipeLoops: number;
  pagefaultSeconds: number;
  pipe: StormFigures[];
  pagefault: StormFigures[];
  /** Tracing programs other tenants had loaded during the no-probe runs (they are in the baseline too). */
  foreignPrograms: string[];
}

export function conditions(): Condition[] {
  const all = availableProbes();
  const out: Condition[] = [{ name: 'no probes', probes: [] }];
  // paf alone: its failure hook runs on every page allocation of the page-fault storm.
  for (const p of ['procstat', 'sysstat', 'paf'] as const) if (all.includes(p)) out.push({ name: p, probes: [p] });
  if (all.length > 1) out.push({ name: `all (${all.join(', ')})`, probes: all });
  // growth on every process: its fault program samples one page fault in probes.growth.fault_sample.
  if (hasGrowth()) out.push({ name: 'growth (every process)', probes: ['growth'] });
  if (all.includes('paf')) out.push(FLOOR);
  return out;
}

/** `pagefaultSeconds` 0 skips the page-fault storm; `inProcess` loads the probes here instead
 * of starting the CLI (no agent CPU figures then). */
export async function overheadBench(o: {
  reps: number; pipeLoops: number; pagefaultSeconds: number; conditions?: Condition[]; pipeTool?: ReturnType<typeof pipeTool>; inProcess?: boolean;
}): Promise<OverheadResult> {
  const conds = o.conditions ?? conditions();
  const pipe = new Map(conds.map((c) => [c.name, { runs: [] as StormRun[], cpu: [] as number[] }]));
  const pf = new Map(conds.map((c) => [c.name, { runs: [] as StormRun[], cpu: [] as number[] }]));
  const foreign = new Set<string>();
  // One discarded run of each storm first: the first run after a while pays for cold caches.
  await pipeStorm(o.pipeLoops, o.pipeTool);
  if (o.pagefaultSeconds > 0) await pagefaultStorm(Math.min(o.pagefaultSeconds, 0.5));
  for (let rep = 0; rep < o.reps; rep++) {
    for (let i = 0; i < conds.length; i++) {
      const c = conds[(i + rep) % conds.length]!;
      // (a bench hook closed a moment ago may still be listed while the kernel frees it)
      if (!c.probes.length && !c.hook) for (const name of loadedHookPrograms()) if (!conds.some((x) => x.hook?.program === name)) foreign.add(name);
      const local = c.hook ? attachHook(c.hook) : c.probes.length && o.inProcess ? attachInProcess(c.probes) : undefined;
      const agent = c.probes.length && !o.inProcess ? await startAgent({ probes: c.probes, exporter: 'none' }) : undefined;
      try {
        if (agent || local) await sleep(300); // past start-up work (paf reads /proc/kallsyms in the background)
        let s0 = agent && sampleProc(agent.pid);
        pipe.get(c.name)!.runs.push(await pipeStorm(o.pipeLoops, o.pipeTool));
        let s1 = agent && sampleProc(agent.pid);
        if (s0 && s1) pipe.get(c.name)!.cpu.push(cpuFraction(s0, s1));
        if (o.pagefaultSeconds > 0) {
          s0 = agent && sampleProc(agent.pid);
          pf.get(c.name)!.runs.push(await pagefaultStorm(o.pagefaultSeconds));
          s1 = agent && sampleProc(agent.pid);
          if (s0 && s1) pf.get(c.name)!.cpu.push(cpuFraction(s0, s1));
        }
      } finally {
        local?.stop();
        await agent?.stop();
      }
      // The kernel frees a closed object's programs and maps in deferred work, on any CPU (and
      // an exited agent's memory): without a pause that lands on the next condition's storm.
      if (c.probes.length || c.hook) await sleep(SETTLE_MS);
    }
  }
  const figures = (m: typeof pipe): StormFigures[] => {
    if (m.get(conds[0]!.name)!.runs.length === 0) return [];
    const baseRuns = m.get(conds[0]!.name)!.runs;
    const baseCpu = median(baseRuns.map(perCpu));
    const baseWall = median(baseRuns.map(perWall));
    return conds.map((c) => {
      const { runs, cpu } = m.get(c.name)!;
      const pc = median(runs.map(perCpu));
      const pw = median(runs.map(perWall));
      return { condition: c.name, probes: c.probes, runs, perCpu: pc, ratio: pc / baseCpu, perWall: pw, wallRatio: pw / baseWall, ...(cpu.length ? { agentCpu: median(cpu) } : {}) };
    });
  };
  return { reps: o.reps, pipeTool: o.pipeTool ?? pipeTool(), pipeLoops: o.pipeLoops, pagefaultSeconds: o.pagefaultSeconds, pipe: figures(pipe), pagefault: figures(pf), foreignPrograms: [...foreign].sort() };
}

export interface ProgramCost extends ProgStats {
  avgNs: number;
}

/** Every program of the agent with all probes, timed by the kernel under both storms. */
export async function programCosts(o: { pipeLoops: number; pagefaultSeconds: number }): Promise<ProgramCost[]> {
  const agent = await startAgent({ probes: availableProbes(), exporter: 'none' });
  let restore: (() => void) | undefined;
  try {
    restore = enableBpfStats();
    const before = new Map(programsOf(agent.pid).map((p) => [p.id, p]));
    await pipeStorm(o.pipeLoops);
    await pagefaultStorm(o.pagefaultSeconds);
    await sleep(1200); // a poll or two of the agent's own map reads
    return programsOf(agent.pid).map((p) => {
      const b = before.get(p.id);
      const runCnt = p.runCnt - (b?.runCnt ?? 0);
      const runTimeNs = p.runTimeNs - (b?.runTimeNs ?? 0);
      return { ...p, runCnt, runTimeNs, avgNs: runCnt ? runTimeNs / runCnt : 0 };
    });
  } finally {
    restore?.();
    await agent.stop();
  }
}
