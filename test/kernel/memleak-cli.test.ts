// memleak through the real CLI: --memleak-command from the program's first allocation, the
// console report in the contract's format, --memleak-count ending the run, and the OTLP spans
// and metrics arriving at a real OTLP/HTTP receiver.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { runCli, startCli } from '../helpers/cli.ts';
import { startOtlpReceiver, type OtlpSpan } from '../../harness/otlp-receiver.ts';
import { scaled } from '../../harness/time-scale.ts';
import { buildLeaker, SCENARIO_LEAKS, startLeaker, tagLines, type Build } from './memleak-leaker.ts';

let build: Build;
const lines = tagLines();

before(() => {
  build = buildLeaker();
});
after(() => build.cleanup());

/** Stack blocks of the console report: the stack line and the frame lines under it. */
function consoleStacks(stdout: string): Array<{ header: string; bytes: number; allocs: number; frames: string[] }> {
  const out: Array<{ header: string; bytes: number; allocs: number; frames: string[] }> = [];
  for (const line of stdout.split('\n')) {
    const m = /^stack_id=0x[0-9a-f]+ with outstanding allocations: total_size=(\d+) nr_allocs=(\d+)$/.exec(line);
    if (m) out.push({ header: line, bytes: Number(m[1]), allocs: Number(m[2]), frames: [] });
    else if (/^[0-9a-f]{16}: /.test(line) || /^ {16}/.test(line)) out.at(-1)?.frames.push(line);
  }
  return out;
}

test('--memleak-command: the agent exits with the traced command\'s code (128 + the signal that killed it), as strace does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-exit-'));
  try {
    const exits7 = join(dir, 'exits7');
    writeFileSync(exits7, '#!/bin/sh\nexit 7\n', { mode: 0o755 });
    const killed = join(dir, 'killed');
    writeFileSync(killed, '#!/bin/sh\nkill -TERM $$\n', { mode: 0o755 });
    const run = (c: string) => runCli(['--memleak-command', c, '--exporter', 'none', '--interval', '0.5'], {}, 30_000);
    const [a, b] = await Promise.all([run(exits7), run(killed)]);
    assert.equal(a.code, 7, a.stderr);
    assert.match(a.stderr, /the command's exit code: 7/);
    assert.equal(b.code, 128 + 15, b.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--memleak-command traces a program from its first allocation and ends the run when it exits', async () => {
  const t0 = Date.now();
  const pprof = join(build.dir, 'leaks.pb.gz');
  const r = await runCli(['--memleak-command', `${build.debug} auto 1500`, '--interval', '1', '--memleak-top', '20', '--memleak-pprof', pprof], {}, 30_000);
  assert.equal(r.code, 0, r.stderr);
  // (runCli would have killed it at twice this)
  assert.ok(Date.now() - t0 < scaled(15_000), 'the run ended with the command, not by a timeout');
  assert.match(r.stderr, /memleak: every traced process has ended/);
  assert.match(r.stdout, /process exited: final report/);
  const stacks = consoleStacks(r.stdout);
  // The first statement of main() leaks: only an attach made before exec sees it.
  const first = stacks.find((s) => / leak_at_start @ /.test(s.frames[0] ?? ''));
  assert.ok(first, `no leak_at_start stack in:\n${r.stdout.slice(0, 3000)}`);
  assert.equal(first.bytes, 4321);
  assert.equal(first.allocs, 1);
  assert.match(first.frames[0]!, new RegExp(`^[0-9a-f]{16}: leak_at_start @ 0x[0-9a-f]+\\+0x[0-9a-f]+ \\S*leaker\\.c:${lines.LEAK_AT_START}$`));
  assert.match(first.frames[1]!, / main @ 0x[0-9a-f]+\+0x[0-9a-f]+ \S*leaker\.c:\d+$/);
  const malloc = stacks.find((s) => / leak_malloc @ /.test(s.frames[0] ?? ''));
  assert.equal(malloc?.bytes, SCENARIO_LEAKS.LEAK_MALLOC!.bytes);
  assert.equal(malloc?.allocs, SCENARIO_LEAKS.LEAK_MALLOC!.allocations);
  // In the final report: one taken while the program runs may catch a churn block between its
  // malloc and its free (seen on a slow 6.1 TCG guest).
  const final = consoleStacks(r.stdout.slice(r.stdout.search(/process exited: final report/)));
  assert.ok(final.length > 0, 'a final report with stacks');
  assert.ok(!final.some((s) => / churn_/.test(s.frames[0] ?? '')), 'freed allocations are not reported');

  // The pprof profile: gzipped, inuse_space/inuse_objects, every leaking function named.
  const profile = Profile.decode(gunzipSync(readFileSync(pprof)));
  const str = (i: number | bigint) => profile.stringTable.strings[Number(i)];
  assert.deepEqual(profile.sampleType.map((t) => `${str(t.type)}/${str(t.unit)}`), ['inuse_objects/count', 'inuse_space/bytes']);
  const fnName = new Map(profile.function.map((f) => [Number(f.id), str(f.name)]));
  const locFns = new Map(profile.location.map((l) => [Number(l.id), l.line.map((x) => fnName.get(Number(x.functionId)))]));
  const sampled = new Set(profile.sample.flatMap((smp) => smp.locationId.flatMap((id) => locFns.get(Number(id)) ?? [])));
  for (const f of ['leak_at_start', 'leak_malloc', 'leak_mmap']) assert.ok(sampled.has(f), `pprof profile has no sample through ${f}`);
  assert.ok(profile.function.some((f) => str(f.filename)?.endsWith('leaker.c')), 'functions name their source file');
  assert.ok(!sampled.has('churn_malloc'), 'freed allocations are not in the profile');
});

test('--memleak-count N: the run stops cleanly after N reports; the traced process keeps running', async () => {
  const leaker = await startLeaker(build.debug);
  try {
    const r = await runCli(['-l', String(leaker.pid), '--interval', '0.5', '--memleak-count', '2'], {}, 20_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => /^\[\d\d:\d\d:\d\d\] pid \d+ \(leaker\): top /.test(l)).length, 2, r.stdout);
    assert.match(r.stderr, /memleak: 2 reports done/);
    assert.equal(leaker.child.exitCode, null);
  } finally {
    leaker.kill();
  }
});

test('OTLP: a memleak.report span per report with a memleak.stack child per top stack, and the outstanding amounts', async () => {
  const rx = await startOtlpReceiver();
  const leaker = await startLeaker(build.debug);
  let cli: ReturnType<typeof startCli> | undefined;
  try {
    // Four seconds, stretched on slow machines: the first report must be symbolized before the end.
    cli = startCli(['-l', String(leaker.pid), '--exporter', 'otlp', '--interval', '1', '--duration', String(Math.round(scaled(4000) / 1000))], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    await cli.waitForOutput(/memleak: attached with uprobe/, 15_000);
    await leaker.run('go');
    const killer = setTimeout(() => cli?.child.kill('SIGKILL'), scaled(20_000));
    const { code } = await cli.exited;
    clearTimeout(killer);
    assert.equal(code, 0, `a ${scaled(4000) / 1000} s run that ended by itself: ${cli.stderr()}`);

    const spans = rx.spans();
    const reports = spans.filter((s) => s.name === 'memleak.report' && s.attributes['process.pid'] === leaker.pid);
    assert.ok(reports.length >= 1, `no memleak.report span; got ${spans.map((s) => s.name).join(', ')}`);
    const report = reports.at(-1)!;
    assert.equal(report.parentSpanId, undefined, 'the report is the root of its trace');
    assert.equal(report.attributes['process.executable.name'], basename(build.debug));
    assert.equal(report.attributes['process.command_line'], build.debug, 'its /proc/PID/cmdline');
    const leaked = Object.values(SCENARIO_LEAKS).reduce((a, w) => a + w.bytes, 0);
    assert.ok(Number(report.attributes['memwatcher.memleak.bytes']) >= leaked);
    assert.ok(Number(report.attributes['memwatcher.memleak.allocations']) >= 30);

    const children = spans.filter((s) => s.name === 'memleak.stack' && s.parentSpanId === report.spanId);
    assert.ok(children.length >= Object.keys(SCENARIO_LEAKS).length, `${children.length} memleak.stack spans`);
    for (const c of children) assert.equal(c.traceId, report.traceId);
    const byFunction = (fn: string): OtlpSpan | undefined => children.find((c) => c.attributes['code.function.name'] === fn);
    for (const [tag, want] of Object.entries(SCENARIO_LEAKS)) {
      const s = byFunction(want.function);
      assert.ok(s, `no memleak.stack span for ${want.function}`);
      assert.equal(s.attributes['memwatcher.memleak.bytes'], want.bytes, want.function);
      assert.equal(s.attributes['memwatcher.memleak.allocations'], want.allocations, want.function);
      assert.equal(basename(String(s.attributes['code.file.path'])), 'leaker.c');
      assert.equal(s.attributes['code.line.number'], lines[tag]);
      const trace = String(s.attributes['code.stacktrace']).split('\n');
      assert.match(trace[0]!, new RegExp(`^${want.function}\\+0x[0-9a-f]+ \\(${build.debug}\\) \\S*leaker\\.c:${lines[tag]}$`));
      assert.match(trace[1]!, new RegExp(`^${want.caller}\\+0x[0-9a-f]+ \\(`));
    }
    // A stack whose innermost frames are the C library's own (pthread_create's stack mmap):
    // the code.* attributes name the first frame outside it.
    for (const c of children) {
      const fn = c.attributes['code.function.name'];
      if (fn !== undefined) assert.ok(!['malloc', 'calloc', 'mmap', 'free'].includes(String(fn)));
    }

    const bytes = rx.metrics().filter((m) => m.name === 'memwatcher.memleak.outstanding');
    assert.ok(bytes.length > 0, 'memwatcher.memleak.outstanding was exported');
    assert.equal(bytes[0]!.unit, 'By');
    assert.ok(bytes.every((m) => m.kind === 'sum' && m.monotonic === false), 'outstanding bytes add up over processes: a non-monotonic sum');
    const point = bytes.flatMap((m) => m.points).filter((p) => p.attributes['process.pid'] === leaker.pid).at(-1);
    assert.ok(point && point.value! >= leaked, 'outstanding bytes of the traced process');
    assert.equal(point.attributes['process.executable.name'], basename(build.debug));
    const allocs = rx.metrics().find((m) => m.name === 'memwatcher.memleak.outstanding.count');
    assert.equal(allocs?.unit, '{allocation}');
    assert.ok(allocs?.kind === 'sum' && allocs.monotonic === false, 'outstanding.count is a non-monotonic sum');
  } finally {
    if (cli?.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
    leaker.kill();
    await rx.close();
  }
});
