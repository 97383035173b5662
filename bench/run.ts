// `npm run bench`: every cost that matters, each beside its baseline from the same run, printed
// as tables at the end and written to bench/RESULTS.md (committed; the README links to it) and
// bench/results/latest.{md,json} (not committed).
//   node bench/run.ts [--quick] [--reps N] [--only drain,overhead,programs,footprint,churn,extra,scaling]
//                     [--before FILE [--before-label TEXT]]
//   node bench/run.ts --render
// --render measures nothing and renders the tables again from bench/results/latest.json (into
// latest.md and RESULTS.md). With --only, the sections not run are kept from the previous
// latest.json (the tables say they come from that earlier run); without a latest.json they are
// missing from the new RESULTS.md.
// --reps sets the storms' repetitions (default 4, 2 with --quick). --before FILE (a results
// JSON, e.g. a saved latest.json) puts that run's storm ratios and program costs beside the new
// ones, labelled with --before-label.
//
// Sections written by others plug in here: bench/memleak.ts, bench/memleak-unwind.ts and bench/symbolize.ts (section
// "extra") and bench/scaling.ts (section "scaling"), when they exist, are imported and their
// `benchSection({ quick })` export is awaited; it returns { title, markdown, data } (data goes
// into the JSON). A module without that export is run as a script (`node bench/<name>.ts`) and
// its output is kept as is.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { routeLibbpfLog } from '../src/libbpf/log.ts';
import { createLogger } from '../src/log.ts';
import { runDrain, type DrainResult } from '../harness/drain.ts';
import { churnBench, footprintBench } from './footprint.ts';
import { ROOT } from '../harness/cbuild.ts';
import { describeMachine } from './lib/machine.ts';
import { earlierRuns, renderMarkdown, resultsPage, type BenchResults, type EarlierRun, type ExtraSection } from './lib/report.ts';
import { overheadBench, programCosts } from './overhead.ts';

const SECTIONS = ['drain', 'overhead', 'programs', 'footprint', 'churn', 'extra', 'scaling'] as const;
type Section = (typeof SECTIONS)[number];

/** The plug-in modules, in the order their tables appear, and the section that runs each. */
const EXTRA_MODULES = [
  { module: 'memleak', section: 'extra' },
  { module: 'memleak-unwind', section: 'extra' },
  { module: 'memleak-redis', section: 'extra' },
  { module: 'symbolize', section: 'extra' },
  { module: 'scaling', section: 'scaling' },
] as const satisfies ReadonlyArray<{ module: string; section: Section }>;

/** A results entry's module (entries of runs before modules were recorded are "extra"'s). */
const moduleOf = (x: ExtraSection) => EXTRA_MODULES.find((m) => m.module === x.module) ?? EXTRA_MODULES[0];

interface Options {
  quick: boolean;
  only: Set<Section>;
  /** --only was given: the other sections come from the previous results. */
  partial: boolean;
  render: boolean;
  reps?: number;
  before?: string;
  beforeLabel?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, only: new Set<Section>(SECTIONS), partial: false, render: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') o.quick = true;
    else if (a === '--readme') throw new Error('--readme is gone: the results go to bench/RESULTS.md, which the README links to');
    else if (a === '--render') o.render = true;
    else if (a === '--only') {
      const names = (argv[++i] ?? '').split(',').filter(Boolean);
      const bad = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
      if (bad.length || !names.length) throw new Error(`--only takes a comma-separated list of ${SECTIONS.join(', ')}`);
      o.only = new Set(names as Section[]);
      o.partial = true;
    } else if (a === '--reps') {
      o.reps = Number(argv[++i]);
      if (!Number.isInteger(o.reps) || o.reps < 1) throw new Error('--reps takes a whole number of repetitions');
    } else if (a === '--before') {
      o.before = argv[++i];
      if (!o.before || !existsSync(o.before)) throw new Error('--before takes a results JSON file (e.g. a saved bench/results/latest.json)');
    } else if (a === '--before-label') o.beforeLabel = argv[++i];
    else throw new Error(`unknown argument ${a} (use --quick, --reps N, --only LIST, --before FILE, --before-label TEXT, --render)`);
  }
  return o;
}

/** The sections of `prev` that this run does not measure, kept with the machine they ran on. */
function carryOver(results: BenchResults, prev: BenchResults & { extraData?: Record<string, unknown> }, only: Set<Section>, extraData: Record<string, unknown>): void {
  // A section prev itself had kept still carries the machine of the run that measured it.
  const before = earlierRuns(prev);
  const groups: EarlierRun[] = [];
  const kept = { push(name: string) {
    const machine = before.find((e) => e.sections.includes(name))?.machine ?? prev.machine;
    let g = groups.find((x) => x.machine === machine);
    if (!g) groups.push((g = { machine, sections: [] }));
    g.sections.push(name);
  } };
  const keep = <K extends 'drain' | 'overhead' | 'programs' | 'footprint' | 'churn'>(k: K) => {
    if (!only.has(k) && prev[k] !== undefined) {
      results[k] = prev[k];
      kept.push(k);
    }
  };
  keep('drain');
  keep('overhead');
  keep('programs');
  keep('footprint');
  keep('churn');
  for (const x of prev.extra) {
    const m = moduleOf(x);
    if (only.has(m.section)) continue;
    results.extra.push(x);
    if (prev.extraData?.[m.module] !== undefined) extraData[m.module] = prev.extraData[m.module];
    kept.push(x.title);
  }
  if (groups.length) results.earlier = groups;
  // The comparison an earlier run made (--before) goes with the sections it compared.
  if (prev.before && (!only.has('overhead') || !only.has('programs'))) results.before = prev.before;
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

async function extraSection(name: string, quick: boolean): Promise<(ExtraSection & { data?: unknown }) | undefined> {
  const file = join(ROOT, 'bench', `${name}.ts`);
  if (!existsSync(file)) return undefined;
  // Importing a plain script would run it: only import a module that says it has the export.
  if (/export\s+(async\s+)?function\s+benchSection\b/.test(readFileSync(file, 'utf8'))) {
    const mod = (await import(file)) as { benchSection: (o: { quick: boolean }) => Promise<ExtraSection & { data?: unknown }> };
    return mod.benchSection({ quick });
  }
  const { stdout } = await promisify(execFile)(process.execPath, [file], { encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 });
  return { title: name, markdown: '```\n' + stdout.trim() + '\n```' };
}

export const RESULTS_PAGE = join(ROOT, 'bench/RESULTS.md');

function writeResultsPage(md: string, r: BenchResults, quick?: boolean): void {
  writeFileSync(RESULTS_PAGE, resultsPage(r, md, { quick }));
  log('bench/RESULTS.md written');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const latest = join(ROOT, 'bench/results/latest.json');
  if (opts.render) {
    const saved = JSON.parse(readFileSync(latest, 'utf8')) as BenchResults;
    const md = renderMarkdown(saved);
    writeFileSync(join(ROOT, 'bench/results/latest.md'), md);
    process.stdout.write(md);
    writeResultsPage(md, saved);
    return;
  }
  if (process.getuid?.() !== 0) {
    log('needs root (it loads BPF programs and reads other processes\' /proc entries)');
    process.exit(2);
  }
  routeLibbpfLog(createLogger({ verbose: false, write: () => {} }));
  const q = opts.quick;
  const results: BenchResults = { machine: describeMachine(), extra: [], errors: [] };
  const extraData: Record<string, unknown> = {};
  if (opts.partial && existsSync(latest)) carryOver(results, JSON.parse(readFileSync(latest, 'utf8')) as BenchResults, opts.only, extraData);
  else if (opts.partial) log(`no ${latest} to keep the other sections from: bench/RESULTS.md will hold only ${[...opts.only].join(', ')} (git diff shows what it lost)`);
  if (opts.before) {
    const b = JSON.parse(readFileSync(opts.before, 'utf8')) as BenchResults;
    results.before = { label: opts.beforeLabel ?? `the run of ${b.machine.date}`, machine: b.machine, ...(b.overhead ? { overhead: b.overhead } : {}), ...(b.programs ? { programs: b.programs } : {}) };
  }
  const reps = opts.reps ?? (q ? 2 : 4);
  const t0 = performance.now();
  const section = async (name: Section, f: () => Promise<void>) => {
    if (!opts.only.has(name)) return;
    const t = performance.now();
    log(`${name}...`);
    try {
      await f();
    } catch (err) {
      results.errors.push({ section: name, error: (err as Error).stack ?? String(err) });
      log(`${name} failed: ${(err as Error).message}`);
    }
    log(`${name} took ${((performance.now() - t) / 1000).toFixed(0)} s`);
  };

  await section('drain', async () => {
    const loads = q ? [1_000_000] : [100_000, 300_000, 1_000_000, 3_000_000];
    const out: DrainResult[] = [];
    for (const offered of loads) {
      for (const consumer of ['libbpf', 'mmap'] as const) {
        out.push(await runDrain({ consumer, offered, seconds: q ? 2 : 2.5 }));
      }
    }
    results.drain = out;
  });
  await section('overhead', async () => {
    results.overhead = await overheadBench({ reps, pipeLoops: 100_000, pagefaultSeconds: 1 });
  });
  await section('programs', async () => {
    results.programs = await programCosts({ pipeLoops: 100_000, pagefaultSeconds: 1 });
  });
  await section('footprint', async () => {
    results.footprint = await footprintBench({ warmSeconds: 2, windowSeconds: q ? 2 : 3 });
  });
  await section('churn', async () => {
    results.churn = await churnBench({ procs: q ? 2000 : 10_000, warmSeconds: 2 });
  });
  for (const s of ['extra', 'scaling'] as const) {
    await section(s, async () => {
      for (const { module: name } of EXTRA_MODULES.filter((m) => m.section === s)) {
        try {
          const x = await extraSection(name, q);
          if (x) {
            results.extra.push({ title: x.title, markdown: x.markdown, module: name });
            extraData[name] = x.data;
          } else log(`bench/${name}.ts not written yet: skipped`);
        } catch (err) {
          results.errors.push({ section: name, error: (err as Error).stack ?? String(err) });
        }
      }
    });
  }
  // Tables kept from an earlier run and new ones, in the modules' order.
  results.extra.sort((a, b) => EXTRA_MODULES.indexOf(moduleOf(a)) - EXTRA_MODULES.indexOf(moduleOf(b)));

  results.machine.loadEnd = os.loadavg()[0]!;
  const md = renderMarkdown(results);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.md'), md);
  writeFileSync(join(dir, 'latest.json'), JSON.stringify({ ...results, extraData }, null, 2) + '\n');
  process.stdout.write('\n' + md);
  log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s; bench/results/latest.md and latest.json written`);
  writeResultsPage(md, results, q);
  if (results.errors.length) process.exitCode = 1;
}

if (import.meta.main) await main();
