// The loads an agent must not slow down, each measured as operations per wall-clock second and
// per CPU-second the storm itself used (bench/c/cputime: wait4's rusage). The probes' programs
// run in the storm's own context and are charged to it, so the per-CPU-second figure carries
// their cost while leaving out time lost to other tenants of a shared host.
//  - context-switch storm: `perf bench sched pipe` when Debian's linux-perf works here, else
//    bench/c/pipe-pingpong (the same exchange);
//  - page-fault/allocation storm: bench/c/pagefault-storm.
import { execFile, execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { cProgram } from './cbuild.ts';

const run = promisify(execFile);

/** Storms run on the last CPU unless told otherwise: both ends of the pipe switch on one CPU
 * (cross-CPU wake-up latency on a VM varies more than anything we measure), the agent mostly
 * on the others. */
const STORM_CPU = String(Math.max(0, availableParallelism() - 1));

export interface StormRun {
  ops: number;
  wallSeconds: number;
  cpuSeconds: number;
}

export const perWall = (r: StormRun) => r.ops / r.wallSeconds;
export const perCpu = (r: StormRun) => r.ops / r.cpuSeconds;

async function timed(cmd: string, args: string[], cpu: string): Promise<{ stdout: string; cpu: number; wall: number }> {
  const { stdout, stderr } = await run('taskset', ['-c', cpu, cProgram('cputime'), cmd, ...args], { encoding: 'utf8', timeout: 120_000 });
  const m = /cputime: (\{.*\})/.exec(stderr);
  if (!m) throw new Error(`${cmd}: no cputime line in:\n${stderr}`);
  const t = JSON.parse(m[1]!) as { user: number; sys: number; wall: number };
  return { stdout, cpu: t.user + t.sys, wall: t.wall };
}

let perfWorks: boolean | undefined;

/** Which tool the context-switch storm uses on this host. */
export function pipeTool(): 'perf bench sched pipe' | 'bench/c/pipe-pingpong' {
  if (perfWorks === undefined) {
    try {
      execFileSync('perf', ['bench', 'sched', 'pipe', '-l', '1000'], { stdio: 'pipe', timeout: 10_000 });
      perfWorks = true;
    } catch {
      perfWorks = false;
    }
  }
  return perfWorks ? 'perf bench sched pipe' : 'bench/c/pipe-pingpong';
}

/** `loops` round trips (each: two wake-ups, two context switches), pinned to `cpu`. */
export async function pipeStorm(loops: number, tool = pipeTool(), cpu = STORM_CPU): Promise<StormRun> {
  if (tool === 'perf bench sched pipe') {
    const t = await timed('perf', ['bench', 'sched', 'pipe', '-l', String(loops)], cpu);
    const m = /Total time:\s+([\d.]+)/.exec(t.stdout);
    if (!m) throw new Error(`cannot read perf bench output:\n${t.stdout}`);
    return { ops: loops, wallSeconds: Number(m[1]), cpuSeconds: t.cpu };
  }
  const t = await timed(cProgram('pipe-pingpong'), [String(loops)], cpu);
  const r = JSON.parse(t.stdout) as { loops: number; seconds: number };
  return { ops: r.loops, wallSeconds: r.seconds, cpuSeconds: t.cpu };
}

/** Pages faulted in (and freed) for `seconds`, pinned to `cpu`. */
export async function pagefaultStorm(seconds: number, cpu = STORM_CPU): Promise<StormRun> {
  const t = await timed(cProgram('pagefault-storm'), [String(seconds)], cpu);
  const r = JSON.parse(t.stdout) as { pages: number; seconds: number };
  return { ops: r.pages, wallSeconds: r.seconds, cpuSeconds: t.cpu };
}

/** One copy of a storm pinned to each of the last `cpus` CPUs, all at once: operations and CPU
 * time summed; per wall-clock second, the copies' rates summed. */
export async function stormOnCpus(cpus: number, storm: (cpu: string) => Promise<StormRun>): Promise<StormRun> {
  const last = availableParallelism() - 1;
  if (cpus < 1 || cpus > last + 1) throw new Error(`${cpus} CPUs asked, ${last + 1} available`);
  const runs = await Promise.all(Array.from({ length: cpus }, (_, i) => storm(String(last - i))));
  const ops = runs.reduce((a, r) => a + r.ops, 0);
  const rate = runs.reduce((a, r) => a + perWall(r), 0);
  return { ops, wallSeconds: ops / rate, cpuSeconds: runs.reduce((a, r) => a + r.cpuSeconds, 0) };
}
