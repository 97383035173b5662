// The probe × strategy matrix on the running kernel (the host, or a guest of test/kernels/run).
// For every registered probe and every strategy it declares: does this kernel let the probe
// load and attach with that strategy alone (the runtime's own attach loop, forced)? If it does,
// the probe's kernel tests run with the strategy forced and decide pass or fail. One RESULT line
// per (kernel, probe, strategy); exit 1 on any failure, or on a strategy that expected.tsv says
// this kernel series must offer but that it refused.
//
//   node test/kernels/matrix.ts [--probe P]... [--strategy S]... [--mglru] [--other-tests]
//                               [--timeout S] [--verbose]
//
// --mglru      then repeat the probes whose data depends on the LRU implementation (pr) with
//              /sys/kernel/mm/lru_gen/enabled on (guests only: it changes the whole kernel)
// --other-tests  also run the kernel tests that belong to no probe (libbpf, ...) once each
// --timeout S  per cell (one node --test run), default 600: a last resort, since the tests'
//              own limits (harness/time-scale.ts) end and kill what hangs well before
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/app/config.ts';
import { envName } from '../../src/config/schema.ts';
import { keyPaths } from '../../src/app/config.ts';
import { BpfObject } from '../../src/libbpf/object.ts';
import { routeLibbpfLog } from '../../src/libbpf/log.ts';
import { createLogger } from '../../src/log.ts';
import { loadProbe, objectPath } from '../../src/runtime/attach.ts';
import { kernelSymbols } from '../../src/host/kallsyms.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import type { ProbeContext, ProbeDefinition, Strategy } from '../../src/runtime/probe.ts';
import { PROBE_NAMES, probeNamed } from '../../src/app/registry.ts';
import { expectationFor, formatHooks, formatResult, readExpected, seriesOf, type ResultRow } from './matrix-format.ts';

const ROOT = join(import.meta.dirname, '../..');
const KERNEL_TESTS = join(ROOT, 'test/kernel');
const LRU_GEN = '/sys/kernel/mm/lru_gen/enabled';
/** Probes whose view of reclaim depends on which LRU the kernel runs (MGLRU or the classic one). */
const MGLRU_PROBES: readonly string[] = ['pr'];

/**
 * Config a probe needs before a strategy can be tried at all. memleak picks its strategy by
 * mode (uprobes on target processes, or the kernel allocator's tracepoints) rather than by a
 * strategy key: its uprobes are tried on this very process.
 */
const ATTACH_ENV: Record<string, Record<string, () => Record<string, string>>> = {
  memleak: {
    uprobe: () => ({ MEMWATCHER_PROBES_MEMLEAK_PIDS: String(process.pid) }),
    tracepoint: () => ({ MEMWATCHER_PROBES_MEMLEAK_KERNEL: 'true' }),
  },
};

/**
 * Strategy keys the caller may have set: each cell sets its own. (The guest's MEMWATCHER_GUEST_*
 * and MEMWATCHER_TEST_* reach the tests: they say where they run and how slow it is, and
 * mem-watcher's config ignores them.)
 */
const HARNESS_ENV = /^MEMWATCHER_PROBES_[A-Z]+_STRATEGY$/;

const { values: opts } = parseArgs({
  options: {
    probe: { type: 'string', multiple: true, default: [] },
    strategy: { type: 'string', multiple: true, default: [] },
    mglru: { type: 'boolean', default: false },
    'other-tests': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '600' },
    verbose: { type: 'boolean', default: false },
  },
});
const testTimeoutMs = Number(opts.timeout) * 1000;

const kernel = readKernelInfo();
const series = seriesOf(kernel.release);
const rules = readExpected();
const configKeys = new Set(keyPaths());
let failed = false;

function say(line: string): void {
  process.stdout.write(line + '\n');
}

function report(row: ResultRow): void {
  say(formatResult(row));
}

// --- which tests belong to a probe ------------------------------------------------------------

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...testFiles(path));
    else if (/\.test\.(ts|mts|js|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

/** test/kernel/<probe>.test.ts, <probe>-*.test.ts, <probe>.*.test.ts and test/kernel/<probe>/ (so pr does not take procstat's). */
function ownerOf(file: string): string | undefined {
  const rel = relative(KERNEL_TESTS, file);
  const first = rel.split('/')[0]!;
  for (const p of PROBE_NAMES) {
    if (rel.includes('/') ? first === p : new RegExp(`^${p}([-_.][^/]*)?\\.test\\.[mc]?[jt]s$`).test(first)) return p;
  }
  return undefined;
}

const allKernelTests = testFiles(KERNEL_TESTS);
const testsOf = (probe: string) => allKernelTests.filter((f) => ownerOf(f) === probe);

/**
 * <probe>-cli*.test.ts and <probe>-otlp*.test.ts run mem-watcher as a user does, the CLI picking
 * the strategy itself: what they check is the same in every cell, and each costs several CLI
 * start-ups under emulation. They run once per kernel, in the first cell that attaches (the
 * strategy auto picks, when all of them are run).
 */
const isCliTest = (file: string) => /^[a-z]+-(cli|otlp)([-_.][^/]*)?\.test\.[mc]?[jt]s$/.test(relative(KERNEL_TESTS, file));

// --- attach check -------------------------------------------------------------------------

interface AttachCheck {
  ok: boolean;
  /** One line: why refused, or what attached where it is worth saying (kprobe target, skipped optional hooks). */
  detail: string;
  log: string[];
}

function contextFor(probe: string, strategy: string, log: string[]): ProbeContext<unknown> {
  const env = ATTACH_ENV[probe]?.[strategy]?.() ?? {};
  const { config } = loadConfig({ env });
  const logger = createLogger({ verbose: true, write: (l) => log.push(l) });
  routeLibbpfLog(logger);
  return { config: (config.probes as Record<string, unknown>)[probe], interval: config.interval, log: logger, kernel, othersRunning: false };
}

function checkAttach(def: ProbeDefinition<unknown, unknown>, strategy: string): AttachCheck {
  const log: string[] = [];
  const ctx = contextFor(def.name, strategy, log);
  const outcome = loadProbe(def, ctx, strategy);
  if (!outcome.loaded) {
    return { ok: false, detail: whyRefused(strategy, outcome.refused.map((r) => r.reason), log), log };
  }
  const loaded = outcome.loaded;
  const notes: string[] = [];
  if (strategy === 'kprobe') {
    const targets = loaded.strategy.programs.flatMap((p) => (p.functions ?? []).map((f) => kernelSymbols().functionNamed(f)).filter((f) => f !== undefined).slice(0, 1));
    if (targets.length) notes.push(`kprobe on ${[...new Set(targets)].join(', ')}`);
  }
  // pr declares fentry twice (shrink_folio_list, or shrink_page_list before 6.1): say which one attached.
  if (def.strategies.filter((s) => s.name === strategy).length > 1) notes.push(`through ${loaded.obj.program(loaded.strategy.programs[0]!.program).section}`);
  for (const s of loaded.skipped) notes.push(`optional ${s.program} not attached (${shorten(s.reason)})`);
  loaded.obj.close();
  return { ok: true, detail: notes.join('; '), log };
}

function shorten(reason: string): string {
  const m = /^(?:load|open) \S+ failed \((E[A-Z0-9]+)/.exec(reason);
  if (m) return `load refused: ${m[1]}`;
  const a = /attach \S+ to (kretprobe|kprobe) (\S+) failed \((E[A-Z0-9]+)/.exec(reason);
  if (a) return `${a[1]} ${a[2]}: ${a[3]}`;
  const b = /attach \S+ (?:to (?:tracepoint|raw tracepoint) )?\(?(\S+?)\)? failed \((E[A-Z0-9]+)/.exec(reason);
  if (b) return `attach ${b[1]}: ${b[2]}`;
  return reason.replace(/\/\S+\//g, '').replace(/: libbpf:.*$/, '').slice(0, 160);
}

/** The one-line reason a kernel refused a strategy. */
function whyRefused(strategy: string, reasons: string[], log: string[]): string {
  if (strategy === 'kprobe' && !kernel.kprobes) return 'kprobes not compiled in (no kprobe_events in tracefs)';
  const parts = reasons.map((r) => {
    // libbpf says which BTF function or tracepoint it could not find; the error only says ESRCH/ENOENT.
    const missing = /prog '[^']+': failed to find kernel BTF type ID of '([^']+)'/.exec(log.join('\n'));
    if (/\(ESRCH/.test(r) && missing) return `no ${missing[1]} in kernel BTF`;
    const verifier = /^load \S+ failed \((EACCES|EINVAL)/.test(r) ? verifierSays(log) : undefined;
    return verifier ? `${shorten(r)} (${verifier})` : shorten(r);
  });
  return [...new Set(parts)].join('; ');
}

/** The verifier's last word on a program it rejected, from libbpf's program load log. */
function verifierSays(log: readonly string[]): string | undefined {
  const lines = log.map((l) => l.replace(/^mem-watcher \w+: (libbpf: )?/, '').trim());
  const end = lines.findIndex((l) => l.includes('-- END PROG LOAD LOG --'));
  if (end < 0) return undefined;
  const prog = /prog '([^']+)'/.exec(lines[end]!)?.[1];
  for (let i = end - 1; i >= 0 && !lines[i]!.includes('-- BEGIN PROG LOAD LOG --'); i--) {
    const l = lines[i]!;
    if (l && !/^(processed \d+ insns|verification time|stack depth)/.test(l)) return `verifier on ${prog ?? 'a program'}: ${l.slice(0, 160)}`;
  }
  return undefined;
}

/** How the BPF object names a strategy's hooks, e.g. "tp_btf sched_switch" or "kprobe finish_task_switch". */
function hooksOf(def: ProbeDefinition<unknown>, strategy: string): string {
  let obj: BpfObject | undefined;
  try {
    obj = BpfObject.open(objectPath(def));
    const sections = new Map(obj.programs().map((p) => [p.name, p.section]));
    const byKind = new Map<string, string[]>();
    const programs = def.strategies.filter((s) => s.name === strategy).flatMap((s: Strategy) => s.programs);
    const seen = new Set<string>();
    for (const p of programs) {
      if (seen.has(p.program)) continue;
      seen.add(p.program);
      const section = sections.get(p.program) ?? p.program;
      const slash = section.indexOf('/');
      let kind = slash < 0 ? section : section.slice(0, slash);
      let target = slash < 0 ? '' : section.slice(slash + 1);
      if (kind === 'tp') kind = 'tracepoint';
      if (p.functions?.length) {
        kind = p.retprobe ? 'kretprobe' : kind;
        target = p.functions.join('|');
      }
      if (p.optional) target += '?';
      byKind.set(kind, [...(byKind.get(kind) ?? []), target]);
    }
    return [...byKind].map(([kind, targets]) => {
      const named = pairBeginEnd(targets.filter((t) => t && t !== '?'));
      return named.length ? `${kind} ${named.join(', ')}` : `${kind} ×${targets.length}`;
    }).join('; ');
  } catch (err) {
    return `(object unreadable: ${(err as Error).message})`;
  } finally {
    obj?.close();
  }
}

/** x_begin, x_end -> x_begin/end (reclaim hooks come in such pairs). */
function pairBeginEnd(targets: string[]): string[] {
  const out: string[] = [];
  for (const t of targets) {
    const prev = out.at(-1);
    const m = /^(.*)_end(\??)$/.exec(t);
    if (prev && m && prev === `${m[1]}_begin${m[2]}`) out[out.length - 1] = `${m[1]}_begin/end${m[2]}`;
    else out.push(t);
  }
  return out;
}

// --- kernel tests ---------------------------------------------------------------------------

interface TestRun {
  ok: boolean;
  detail: string;
}

function testEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!HARNESS_ENV.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Runs the test files in one node process (--test-isolation=none: under TCG every node start
 * and every load of our modules costs seconds, so a probe's files share them); the failing
 * tests and their errors make the detail. Tests whose names name another of the probe's
 * strategies (a file that loops over strategies itself) are left to that strategy's cell; a run
 * in which no test passed proves nothing and fails.
 */
function runTests(files: string[], env: Record<string, string>, label: string, others: readonly string[] = []): TestRun {
  const t0 = Date.now();
  const skip = others.length ? [`--test-skip-pattern=\\b(${others.join('|')})\\b`] : [];
  // process.execArgv: this node's own flags (in the guests --liftoff-only, see test/kernels/run).
  const r = spawnSync(process.execPath, [...process.execArgv, '--test', '--test-isolation=none', '--test-reporter=tap', ...skip, ...files], {
    cwd: ROOT, env: testEnv(env), encoding: 'utf8', timeout: testTimeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024,
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const names = files.map((f) => relative(ROOT, f)).join(' ');
  // What a test says about MGLRU (pr under lru_gen) is the finding docs/architecture.md reports.
  const diag = [...out.matchAll(/^\s*# (?!mem-watcher )(.*MGLRU.*)$/gm)].map((m) => m[1]!.trim());
  const passed = Number(/^# pass (\d+)$/m.exec(out)?.[1] ?? 0);
  const skipped = Number(/^# skipped (\d+)$/m.exec(out)?.[1] ?? 0);
  if (opts.verbose) for (const l of out.trimEnd().split('\n')) say(`  | ${l}`);
  if (r.error || r.status !== 0) {
    const timedOut = r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    say(`  ${label}: failed after ${secs}s (${names}):`);
    for (const l of failureBlocks(out)) say(`  | ${l}`);
    const broken = failures(out).join('; ');
    const why = timedOut ? `timed out after ${opts.timeout}s (${names})${broken ? `; by then: ${broken}` : ''}` : broken || `node --test exit ${r.status ?? r.signal} (${names})`;
    return { ok: false, detail: why };
  }
  if (passed === 0) {
    say(`  ${label}: no test passed (${skipped} skipped) in ${secs}s`);
    return { ok: false, detail: `attached, but no test ran with it (${skipped} skipped)` };
  }
  say(`  ${label}: ${passed} passed${skipped ? `, ${skipped} skipped` : ''} (${names}) in ${secs}s`);
  const slow = slowest(out);
  if (slow) say(`    slowest: ${slow}`);
  return { ok: true, detail: [...new Set(diag)].join('; ') };
}

/** The top-level tests that took longest, for seeing where a cell's time goes. */
function slowest(tap: string, n = 3): string {
  const lines = tap.split('\n');
  const took: Array<{ name: string; ms: number }> = [];
  lines.forEach((l, i) => {
    const m = /^(?:not )?ok \d+ - (.*?)(?: # .*)?$/.exec(l);
    if (!m) return;
    for (let j = i + 1; j < lines.length && !/^ {2}\.\.\.$/.test(lines[j]!); j++) {
      const d = /^ {2}duration_ms: ([\d.]+)/.exec(lines[j]!);
      if (d) took.push({ name: m[1]!.length > 60 ? `${m[1]!.slice(0, 59)}…` : m[1]!, ms: Number(d[1]) });
    }
  });
  return took.sort((a, b) => b.ms - a.ms).slice(0, n).filter((t) => t.ms >= 1000).map((t) => `${(t.ms / 1000).toFixed(1)}s ${t.name}`).join('; ');
}

/** Each failing test's TAP block (what went wrong, where), or the end of the output if none. */
function failureBlocks(tap: string): string[] {
  const lines = tap.trimEnd().split('\n');
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (!/^\s*not ok /.test(l)) return;
    const end = lines.findIndex((x, j) => j > i && /^\s*\.\.\.$/.test(x));
    out.push(...lines.slice(i, Math.min(end < 0 ? lines.length : end, i + 30)).filter((x) => !/^\s*(duration_ms|type):/.test(x)));
  });
  return out.length ? out.slice(0, 120) : lines.slice(-40);
}

/** Each failing test that has no failing subtest: "file: name: error". */
function failures(tap: string): string[] {
  const lines = tap.split('\n');
  const out: string[] = [];
  lines.forEach((l, i) => {
    const m = /^(\s*)not ok \d+ - (.*?)(?: # .*)?$/.exec(l);
    if (!m) return;
    const block = lines.slice(i + 1, i + 40);
    const end = block.findIndex((x) => /^\s*\.\.\.$/.test(x));
    const yaml = end < 0 ? block : block.slice(0, end);
    if (yaml.some((x) => /failureType: 'subtestsFailed'/.test(x))) return;
    const at = yaml.findIndex((x) => /^\s+error: /.test(x));
    let msg = at < 0 ? '' : yaml[at]!.replace(/^\s+error: /, '');
    // YAML block scalars (|-, >-) put the message on the next lines.
    if (/^[|>]-?$/.test(msg)) msg = yaml[at + 1]?.trim() ?? '';
    msg = msg.replace(/^(['"])(.*)\1$/, '$2');
    const file = /location: '([^':]+)/.exec(yaml.join('\n'))?.[1];
    out.push(`${file ? `${relative(KERNEL_TESTS, file)}: ` : ''}${m[2]}${msg ? `: ${msg.slice(0, 200)}` : ''}`);
  });
  return out.slice(0, 3);
}

// --- the matrix -------------------------------------------------------------------------------

const wantProbe = (p: string) => opts.probe.length === 0 || opts.probe.includes(p);
const wantStrategy = (s: string) => opts.strategy.length === 0 || opts.strategy.includes(s);

/** Tests of probes without a strategy key run once and speak for every strategy that attached. */
const sharedRuns = new Map<string, TestRun>();

function runProbe(probe: string, variant: string): void {
  const def = probeNamed(probe)!.definition as ProbeDefinition<unknown, unknown>;
  const strategies = [...new Set(def.strategies.map((s) => s.name))].filter(wantStrategy);
  let files = testsOf(probe);
  const strategyKey = `probes.${probe}.strategy`;
  for (const strategy of strategies) {
    if (variant === '-') say(formatHooks(probe, strategy, hooksOf(def, strategy)));
    const row: ResultRow = { kernel: kernel.release, variant, probe, strategy, outcome: 'pass', detail: '' };
    const attach = checkAttach(def, strategy);
    if (opts.verbose) for (const l of attach.log) say(`  ${l}`);
    const rule = expectationFor(rules, series, probe, strategy);
    if (!attach.ok) {
      row.outcome = 'unavailable';
      row.detail = attach.detail;
      if (!rule) row.detail += ` [no expectation for kernel series ${series} in expected.tsv]`;
      else if (rule.expect === 'available') {
        row.outcome = 'fail';
        row.detail = `refused, but expected.tsv:${rule.line} says ${series} offers it: ${attach.detail}`;
      }
      report(row);
      if (row.outcome === 'fail') failed = true;
      continue;
    }
    let run: TestRun;
    if (files.length === 0) {
      run = { ok: false, detail: `attached, but there is no test/kernel/${probe}*.test.ts to prove it` };
    } else if (configKeys.has(strategyKey)) {
      const others = [...new Set(def.strategies.map((x) => x.name))].filter((x) => x !== strategy);
      run = runTests(files, { [envName(strategyKey)]: strategy }, `${probe}/${strategy}${variant === '-' ? '' : ` (${variant})`}`, others);
      files = files.filter((f) => !isCliTest(f));
    } else {
      const key = `${probe}/${variant}`;
      if (!sharedRuns.has(key)) sharedRuns.set(key, runTests(files, {}, `${probe} (its tests choose the strategy)`));
      run = sharedRuns.get(key)!;
    }
    row.outcome = run.ok ? 'pass' : 'fail';
    const lru = variant === '-' && MGLRU_PROBES.includes(probe) && lruGenOn() ? 'MGLRU on at boot' : '';
    row.detail = [lru, attach.detail, run.detail].filter(Boolean).join('; ');
    if (run.ok && rule?.expect === 'unavailable') {
      row.outcome = 'fail';
      row.detail = `passes, but expected.tsv:${rule.line} says ${series} lacks it: update expected.tsv`;
    }
    if (row.outcome === 'fail') failed = true;
    report(row);
  }
}

function lruGen(on: boolean): void {
  writeFileSync(LRU_GEN, on ? 'y' : 'n');
}

/** MGLRU enabled (lru_gen's feature mask is not 0); Debian's 6.12 boots with it on. */
function lruGenOn(): boolean {
  return existsSync(LRU_GEN) && Number(readFileSync(LRU_GEN, 'utf8').trim()) !== 0;
}

say(`MATRIX kernel=${kernel.release} series=${series} kprobes=${kernel.kprobes} btf=${kernel.btf} lru_gen=${existsSync(LRU_GEN) ? readFileSync(LRU_GEN, 'utf8').trim() : 'absent'}`);
// What this run owes, so that run-all.ts can tell a run that stopped early from a complete one.
for (const probe of PROBE_NAMES.filter(wantProbe)) {
  const def = probeNamed(probe)?.definition;
  say(`PLAN probe=${probe} strategies=${def ? [...new Set(def.strategies.map((s) => s.name))].filter(wantStrategy).join(',') : '-'}`);
}

if (opts['other-tests']) {
  for (const f of allKernelTests.filter((f) => ownerOf(f) === undefined)) {
    const run = runTests([f], {}, relative(ROOT, f));
    say(`KTEST kernel=${kernel.release} file=${relative(ROOT, f)} ${run.ok ? 'pass' : `fail: ${run.detail}`}`);
    if (!run.ok) failed = true;
  }
}

for (const probe of PROBE_NAMES) {
  if (!wantProbe(probe)) continue;
  if (!probeNamed(probe)) {
    report({ kernel: kernel.release, variant: '-', probe, strategy: '-', outcome: 'not-implemented', detail: 'not in src/app/registry.ts' });
    continue;
  }
  runProbe(probe, '-');
}

if (opts.mglru) {
  const probes = MGLRU_PROBES.filter((p) => wantProbe(p) && probeNamed(p));
  if (!existsSync(LRU_GEN)) say(`MATRIX mglru: ${kernel.release} has no ${LRU_GEN} (MGLRU not built): no MGLRU pass`);
  else if (lruGenOn()) say(`MATRIX mglru: ${LRU_GEN} is on at boot: the run above was the MGLRU one`);
  else if (probes.length) {
    const before = readFileSync(LRU_GEN, 'utf8').trim();
    lruGen(true);
    say(`MATRIX mglru: ${LRU_GEN} ${before} -> ${readFileSync(LRU_GEN, 'utf8').trim()}`);
    try {
      for (const p of probes) runProbe(p, 'mglru');
    } finally {
      lruGen(false);
    }
  }
}

say(`MATRIX done kernel=${kernel.release} ${failed ? 'FAILED' : 'ok'}`);
process.exitCode = failed ? 1 : 0;
