// `npm run test:kernels`: the probe × strategy matrix (matrix.ts) on this host's kernel, then
// in a qemu guest per kernel of kernels.list (test/kernels/run, one boot per kernel). Results
// go to test/kernels/results/<kernel>.tsv; with --update also into the committed
// strategy-matrix.tsv and the strategy table of docs/architecture.md (scripts/strategy-table.ts).
//
//   node test/kernels/run-all.ts [--kernel NAME]... [--no-host] [--update] [--timeout S]
//                                [--memory MB] [-- MATRIX ARGS...]
//
// Exit 1 when any cell fails, a run ends without reporting every cell it owed, or a guest
// cannot boot.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { updateStrategyTable } from '../../scripts/strategy-table.ts';
import { COMMITTED_MATRIX, KERNELS_DIR, readTsv, RESULTS_DIR, rowsFromOutput, seriesOf, writeTsv, type MatrixRow } from './matrix-format.ts';

const ROOT = join(KERNELS_DIR, '../..');

const { values: opts, positionals: matrixArgs } = parseArgs({
  allowPositionals: true,
  options: {
    kernel: { type: 'string', multiple: true, default: [] },
    'no-host': { type: 'boolean', default: false },
    update: { type: 'boolean', default: false },
    // Per guest: a kernel's whole matrix, about 10 minutes under TCG on a busy 2-core host.
    timeout: { type: 'string', default: '1800' },
    // Guest memory: test/kernels/run's default unless given.
    memory: { type: 'string' },
  },
});

function listedKernels(): string[] {
  return readFileSync(join(KERNELS_DIR, 'kernels.list'), 'utf8').split('\n')
    .map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => l.split(/\s+/)[0]!);
}

/**
 * A copy of the working tree (tracked and untracked files, the built BPF objects; node_modules
 * linked) that every kernel runs: the guests read the host's files live, and other people's
 * edits landing mid-run showed up there as half-written sources.
 */
function snapshot(): string {
  const dir = join(ROOT, '.cache/kernels/snapshots', `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const files = spawnSync('git', ['ls-files', '-z', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  if (files.status !== 0) throw new Error(`git ls-files failed: ${files.stderr}`);
  const tar = spawnSync('bash', ['-c', `tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C ${JSON.stringify(dir)}`], { cwd: ROOT, input: files.stdout });
  if (tar.status !== 0) throw new Error('copying the working tree failed');
  if (existsSync(join(ROOT, 'build'))) cpSync(join(ROOT, 'build'), join(dir, 'build'), { recursive: true });
  // Hard links, not a symlink: a guest sees the snapshot's own directory only, and a clone under
  // /tmp (as CI makes) has its node_modules hidden under the guest's scratch /tmp.
  const linked = spawnSync('cp', ['-al', join(ROOT, 'node_modules'), join(dir, 'node_modules')]);
  if (linked.status !== 0) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

const SNAP = snapshot();
let current: ReturnType<typeof spawn> | undefined;
process.on('exit', () => rmSync(SNAP, { recursive: true, force: true }));
// A CI time limit signals us alone: pass it on, so that test/kernels/run stops its qemu.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    current?.kill('SIGTERM');
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

// Every child shares one compile cache in the snapshot, which the guests read through the
// project overlay: TCG makes stripping and compiling the TypeScript of each node process cost
// seconds. It is filled on the host before any guest boots, for the V8 flags the guests' node
// runs with: none (a test's process.execPath) and --liftoff-only (every other node, through the
// wrapper test/kernels/run puts in place).
const env = { ...process.env, NODE_COMPILE_CACHE: join(SNAP, '.cache/node-compile-cache') };
const GUEST_NODE_FLAGS = [[], ['--liftoff-only']];

function warmCompileCache(): void {
  const entries = [join(SNAP, 'test/kernels/matrix.ts'), join(SNAP, 'src/cli/main.ts'), ...testFiles(join(SNAP, 'test/kernel'))];
  for (const flags of GUEST_NODE_FLAGS) {
    const r = spawnSync(process.execPath, [...flags, join(SNAP, 'test/kernels/warm-cache.ts'), ...entries], { cwd: SNAP, env, encoding: 'utf8' });
    // Only slower without it.
    if (r.status !== 0) console.log(`run-all: warming the compile cache (${flags.join(' ') || 'no flags'}) failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}`);
  }
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.test\.[mc]?[jt]s$/.test(f)).sort().map((f) => join(dir, f));
}

interface Run {
  label: string;
  status: number;
  lines: string[];
  secs: number;
  /** Its cells, with a failure for each one it owed and never reported. */
  rows?: MatrixRow[];
}

/** Runs a command with its output shown as it comes and kept for parsing. */
function run(label: string, cmd: string, args: string[]): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: SNAP, env, stdio: ['ignore', 'pipe', 'inherit'] });
    current = child;
    const lines: string[] = [];
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      process.stdout.write(chunk);
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
    });
    child.on('close', (code, signal) => {
      if (partial) lines.push(partial);
      resolve({ label, status: code ?? (signal ? 128 : 1), lines, secs: (Date.now() - t0) / 1000 });
    });
  });
}

/** The cells a run owed, from its PLAN lines: every registered probe × strategy, and a line for each other probe. */
function owed(lines: readonly string[]): Array<{ probe: string; strategy: string }> {
  return lines.flatMap((l) => {
    const m = /^PLAN probe=(\S+) strategies=(\S+)$/.exec(l);
    return m ? m[2]!.split(',').map((strategy) => ({ probe: m[1]!, strategy })) : [];
  });
}

const filtered = matrixArgs.length > 0;
const runs: Run[] = [];
const allRows: MatrixRow[] = [];
let failed = false;

/** Why a run stopped before its last cell: the guest kernel's own last words, if it oopsed. */
function endedEarly(r: Run): string {
  const text = r.lines.join('\n');
  const oops = /\] ((?:Oops|BUG|Kernel panic)[^\n]*)/.exec(text)?.[1];
  const rip = /\] RIP: \S+:(\S+)/.exec(text)?.[1];
  const during = [...text.matchAll(/^HOOKS probe=(\S+) strategy=(\S+)/gm)].at(-1);
  if (oops) return `the guest kernel died (${oops.trim()}${rip ? ` at ${rip}` : ''})${during ? ` during ${during[1]}/${during[2]}` : ''}`;
  return r.status === 124 ? 'the guest timed out' : `the run ended early (exit ${r.status})`;
}

function collect(r: Run): void {
  const rows = rowsFromOutput(r.lines);
  const release = /^MATRIX kernel=(\S+)/m.exec(r.lines.join('\n'))?.[1];
  if (!release) {
    console.log(`run-all: ${r.label}: the matrix never started (exit ${r.status})`);
    failed = true;
    return;
  }
  // A guest that died or timed out mid-way leaves cells unreported: each is a failure.
  const why = endedEarly(r);
  for (const o of owed(r.lines)) {
    if (!rows.some((x) => x.variant === '-' && x.probe === o.probe && x.strategy === o.strategy)) {
      rows.push({ kernel: release, variant: '-', probe: o.probe, strategy: o.strategy, outcome: 'fail', hooks: '', detail: `no result: ${why}` });
    }
  }
  if (rows.some((x) => x.outcome === 'fail') || r.status !== 0) failed = true;
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeTsv(join(RESULTS_DIR, `${release}.tsv`), rows);
  r.rows = rows;
  allRows.push(...rows);
}

const t0 = Date.now();
if (!opts['no-host']) {
  console.log(`run-all: host kernel (matrix.ts ${matrixArgs.join(' ')})`);
  const r = await run('host', process.execPath, [join(SNAP, 'test/kernels/matrix.ts'), ...matrixArgs]);
  runs.push(r);
  collect(r);
}
const kernels = opts.kernel.length ? opts.kernel.flatMap((k) => (k === 'all' ? listedKernels() : [k])) : listedKernels();
if (kernels.length) warmCompileCache();
for (const k of kernels) {
  console.log(`run-all: guest ${k}`);
  const memory = opts.memory ? ['--memory', opts.memory] : [];
  const r = await run(k, 'bash', [join(KERNELS_DIR, 'run'), '--kernel', k, '--timeout', opts.timeout, ...memory, '--project', SNAP, '--', 'bash', 'test/kernels/guest-tests.sh', ...matrixArgs]);
  runs.push(r);
  collect(r);
}
const wall = (Date.now() - t0) / 1000;

console.log('\nrun-all: summary');
for (const r of runs) {
  const rows = r.rows ?? [];
  const count = (o: string) => rows.filter((x) => x.outcome === o).length;
  const ktestFails = r.lines.filter((l) => /^KTEST .* fail/.test(l)).length;
  console.log(`  ${r.label.padEnd(6)} exit ${r.status}  ${r.secs.toFixed(0).padStart(4)}s  pass ${count('pass')}  fail ${count('fail')}  unavailable ${count('unavailable')}  not-implemented ${count('not-implemented')}${ktestFails ? `  failing other kernel tests ${ktestFails}` : ''}`);
}
console.log(`  wall time ${(wall / 60).toFixed(1)} min`);

if (opts.update) {
  // Rows are replaced per kernel series and probe that ran: a run of one kernel updates its
  // column, a run of `-- --probe P` that probe's rows. Other filters (strategies, tests) would
  // leave a probe's rows half-refreshed.
  const probeOnly = matrixArgs.every((a, i) => a === '--probe' || matrixArgs[i - 1] === '--probe');
  if (filtered && !probeOnly) {
    console.log('run-all: --update takes no matrix arguments but --probe; strategy-matrix.tsv left as it was');
  } else {
    const before = existsSync(COMMITTED_MATRIX) ? readTsv(COMMITTED_MATRIX) : [];
    const key = (x: MatrixRow) => (filtered ? `${seriesOf(x.kernel)} ${x.probe}` : seriesOf(x.kernel));
    const ran = new Set(allRows.map(key));
    const kept = before.filter((x) => !ran.has(key(x)));
    // One probe's rows join its series' column under the kernel name already there (a host's
    // build tag changes between machines of the same kernel).
    const column = new Map(kept.map((x) => [seriesOf(x.kernel), x.kernel]));
    if (filtered) for (const r of allRows) r.kernel = column.get(seriesOf(r.kernel)) ?? r.kernel;
    writeTsv(COMMITTED_MATRIX, [...kept, ...allRows]);
    updateStrategyTable();
    console.log(`run-all: wrote ${COMMITTED_MATRIX} and the strategy table of docs/architecture.md${failed ? ' (with the failures above)' : ''}`);
  }
}
process.exitCode = failed ? 1 : 0;
