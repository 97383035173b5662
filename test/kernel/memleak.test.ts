// memleak on the real kernel, in process: a C program (test/fixtures/memleak/leaker.c) leaks
// known bytes from known call sites through every allocator family, in four threads, and frees
// as many others. Every leak must be reported with its exact bytes, count and source line, and
// nothing it freed may appear (precision and recall 100%).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type MemleakRecord, type MemleakReport, type MemleakTraceEvent } from '../../src/probes/memleak/index.ts';
import { memleakProbe } from '../../src/probes/memleak/definition.ts';
import { processPlan } from '../../src/probes/memleak/allocator.ts';
import { kernelAtLeast, readKernelInfo } from '../../src/host/kernel.ts';
import { startProbe, type ProbeHarness } from '../helpers/probe-harness.ts';
import { buildLeaker, functionAddresses, PREFIXED_USER_SOURCE, probeFds, SCENARIO_LEAKS, sites, startLeaker, tagLines, type Build } from './memleak-leaker.ts';

let build: Build;
const PREEMPT_SOURCE = new URL('../fixtures/memleak/preempt.c', import.meta.url).pathname;
const lines = tagLines();

before(() => {
  build = buildLeaker();
});
after(() => build.cleanup());

function start(pid: number, env: Record<string, string> = {}): ProbeHarness<MemleakRecord> {
  const h = startProbe(memleakProbe, {
    MEMWATCHER_PROBES_MEMLEAK_PIDS: String(pid),
    MEMWATCHER_PROBES_MEMLEAK_TOP: '200',
    MEMWATCHER_INTERVAL: '0.3',
    // Distinct stacks land in stack-map buckets by hash: a roomy map keeps collisions (which
    // the report counts; scenarioTest runs again on one) rare among this program's stacks.
    MEMWATCHER_PROBES_MEMLEAK_STACK_MAP_SIZE: '32768',
    ...env,
  });
  assert.equal(h.status.strategy, 'uprobe', `memleak did not attach: ${JSON.stringify(h.status.refused)}`);
  return h;
}

/** The first report snapshotted after `sinceMs` (and matching `pred`). */
async function reportAfter(h: ProbeHarness<MemleakRecord>, sinceMs: number, pred: (r: MemleakReport) => boolean = () => true): Promise<MemleakReport> {
  return await h.waitFor((r) => r.kind === 'report' && r.timeMs > sinceMs && pred(r), 30_000) as MemleakReport;
}

const key = (tag: string) => `${SCENARIO_LEAKS[tag]!.function}:${lines[tag]}`;

/** Two of the program's stacks met in one bucket of the kernel's stack map. */
class StackCollision extends Error {}

/**
 * A scenario test, run a second time when the report counted a stack-map collision: the kernel
 * hashes a stack's addresses into a bucket and refuses a second stack there (no
 * BPF_F_REUSE_STACKID, so no stack is ever misattributed); the report counts it and the
 * attribution can't be checked. ASLR moves the addresses, so a second run hashes afresh.
 */
function scenarioTest(name: string, body: () => Promise<void>): void {
  test(name, async () => {
    try {
      await body();
    } catch (err) {
      if (!(err instanceof StackCollision)) throw err;
      await body();
    }
  });
}

function assertScenario(report: MemleakReport, binary: string): void {
  if (report.stats.stackCollisions > 0) throw new StackCollision(`${report.stats.stackCollisions} stack-map collision(s)`);
  assert.equal(report.stats.allocsDropped, 0);
  const got = sites(report);
  for (const [tag, want] of Object.entries(SCENARIO_LEAKS)) {
    const site = got.get(key(tag));
    assert.ok(site, `${tag} (${key(tag)}) missing; sites: ${[...got.keys()].join(', ')}`);
    assert.equal(site.bytes, want.bytes, `${tag}: outstanding bytes`);
    assert.equal(site.allocations, want.allocations, `${tag}: outstanding allocations`);
    for (const stack of site.stacks) {
      const [leaf, caller] = stack.frames;
      assert.equal(leaf?.function, want.function, `${tag}: innermost frame`);
      assert.equal(leaf?.module, binary, `${tag}: module`);
      assert.equal(basename(leaf?.file ?? ''), 'leaker.c', `${tag}: source file`);
      assert.equal(leaf?.line, lines[tag], `${tag}: source line`);
      assert.equal(caller?.function, want.caller, `${tag}: caller frame`);
    }
  }
  // Precision: every outstanding allocation made by the program's own functions is a leak we
  // made. The freed ones (churn_*, and realloc's first block) must be gone.
  const expected = new Set(Object.keys(SCENARIO_LEAKS).map(key));
  for (const [k, site] of got) {
    if (/^(leak|churn)_/.test(site.function)) assert.ok(expected.has(k), `reported but freed or unknown: ${k} (${site.bytes} bytes)`);
  }
  const leaked = Object.values(SCENARIO_LEAKS).reduce((a, w) => a + w.bytes, 0);
  assert.ok(report.totals.bytes >= leaked, `totals ${report.totals.bytes} < ${leaked}`);
}

scenarioTest('every leak of a multi-threaded program, exact bytes and counts at its source line; nothing freed', async () => {
  const leaker = await startLeaker(build.debug);
  const h = start(leaker.pid);
  try {
    await leaker.run('go');
    const report = await reportAfter(h, Date.now());
    assert.equal(report.pid, leaker.pid);
    assert.equal(report.executable, 'leaker');
    assert.equal(report.kernel, false);
    assertScenario(report, build.debug);
    assert.deepEqual(h.status.skippedHooks, [], 'glibc has every allocator');
  } finally {
    h.stop();
    leaker.kill();
  }
});

/**
 * probeFds() once it has not changed for 2 s: links are destroyed off the event loop, one
 * about every 100 ms (an earlier test's may still be going), and on a loaded host a single
 * uprobe's unregistration (an RCU grace period) was seen to take over 600 ms.
 */
async function settledProbeFds(): Promise<number> {
  let last = probeFds();
  let stable = 0;
  for (let i = 0; i < 300 && stable < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = probeFds();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return last;
}

scenarioTest('combined-only keeps the same per-stack totals (frees still find their block)', async () => {
  const leaker = await startLeaker(build.debug);
  const h = start(leaker.pid, { MEMWATCHER_PROBES_MEMLEAK_COMBINED_ONLY: 'true' });
  try {
    await leaker.run('go');
    assertScenario(await reportAfter(h, Date.now()), build.debug);
  } finally {
    h.stop();
    leaker.kill();
  }
});

scenarioTest('several processes at once (-l A -l B): each report holds only its own process\'s allocations', async () => {
  const a = await startLeaker(build.debug);
  const b = await startLeaker(build.debug);
  const h = start(a.pid, { MEMWATCHER_PROBES_MEMLEAK_PIDS: `${a.pid},${b.pid}` });
  try {
    await a.run('go');
    await b.run('burst 50');
    const since = Date.now();
    const ra = await reportAfter(h, since, (r) => r.pid === a.pid);
    const rb = await reportAfter(h, since, (r) => r.pid === b.pid);
    assertScenario(ra, build.debug);
    assert.equal(sites(ra).get(`leak_burst:${lines.LEAK_BURST}`), undefined);
    const burst = sites(rb).get(`leak_burst:${lines.LEAK_BURST}`);
    assert.equal(burst?.bytes, 50 * 64);
    assert.equal(burst?.allocations, 50);
    assert.equal(sites(rb).get(key('LEAK_MALLOC')), undefined);
  } finally {
    h.stop();
    a.kill();
    b.kill();
  }
});

scenarioTest('a process that exits while traced: a final report says so, with its stacks, and the uprobes are detached', async () => {
  // Each uprobe is a perf event plus a BPF link: two descriptors (before 5.15 the kernel has no
  // perf-event links: libbpf attaches the program to the perf event itself, one descriptor).
  const before = await settledProbeFds();
  const leaker = await startLeaker(build.debug);
  const hookFds = (kernelAtLeast(readKernelInfo(), 5, 15) ? 2 : 1) * processPlan(leaker.pid).placements.reduce((n, p) => n + (p.hook.exit ? 2 : 1), 0);
  const h = start(leaker.pid);
  let stopped = false;
  try {
    const attached = probeFds();
    assert.ok(attached >= before + hookFds, 'uprobes hold perf-event and link descriptors while attached');
    await leaker.run('go');
    leaker.child.stdin!.write('exit\n');
    assert.equal(await leaker.exited, 0);
    const last = await h.waitFor((r) => r.kind === 'report' && r.ended !== undefined, 10_000) as MemleakReport;
    assert.equal(last.ended, 'exited');
    // Symbolized with the maps captured while it ran.
    assertScenario(last, build.debug);
    // No report after the final one.
    await new Promise((r) => setTimeout(r, 700));
    h.poll();
    const reports = h.records.filter((r): r is MemleakReport => r.kind === 'report');
    assert.equal(reports.at(-1), last);
    assert.equal(await settledProbeFds(), attached - hookFds, 'every uprobe of the process was detached');
    h.stop();
    stopped = true;
    assert.equal(await settledProbeFds(), before, 'and the rest at stop');
  } finally {
    if (!stopped) h.stop();
    leaker.kill();
  }
});

scenarioTest('a C library replaced on disk since the process mapped it (an upgrade): traced in the copy it runs, not the new file at its path', async () => {
  const libcPath = readFileSync('/proc/self/maps', 'latin1').split('\n').map((l) => l.split(/\s+/)[5] ?? '').find((p) => basename(p) === 'libc.so.6');
  assert.ok(libcPath, 'this node maps no libc.so.6');
  const dir = mkdtempSync(join(tmpdir(), 'mw-upgraded-libc-'));
  const lib = join(dir, 'libc.so.6');
  copyFileSync(libcPath, lib);
  const leaker = await startLeaker(build.debug, { ...process.env, LD_LIBRARY_PATH: dir });
  let h: ProbeHarness<MemleakRecord> | undefined;
  try {
    // What a package upgrade does: the old file unlinked, another one put at its path.
    rmSync(lib);
    copyFileSync('/bin/true', lib);
    assert.match(readFileSync(`/proc/${leaker.pid}/maps`, 'latin1'), new RegExp(`${lib} \\(deleted\\)`), 'the process maps the deleted copy');
    h = start(leaker.pid);
    await leaker.run('go');
    assertScenario(await reportAfter(h, Date.now()), build.debug);
  } finally {
    h?.stop();
    leaker.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

scenarioTest('a process that execs another program: the final report of the old image, symbolized, says so', async () => {
  const leaker = await startLeaker(build.debug);
  const h = start(leaker.pid);
  try {
    await leaker.run('go');
    leaker.child.stdin!.write('exec\n');
    const last = await h.waitFor((r) => r.kind === 'report' && r.ended !== undefined, 10_000) as MemleakReport;
    assert.equal(last.ended, 'exec');
    assert.equal(last.executable, 'leaker');
    assertScenario(last, build.debug);
  } finally {
    h.stop();
    leaker.kill();
  }
});

// On a preemptible kernel (Debian's 7.x) a uprobe program can be switched out mid-walk; four
// threads pinned to one CPU make that happen often. Each leaks 300 blocks of its own size from
// its own function: every block must be counted under its own thread's stack.
test('threads switched on one CPU inside the uprobe programs: each block under its own stack', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'memleak-preempt-'));
  try {
    const bin = join(dir, 'preempt');
    execFileSync('gcc', ['-g', '-fno-omit-frame-pointer', '-O0', '-pthread', '-o', bin, PREEMPT_SOURCE]);
    const leaker = await startLeaker(bin);
    const h = start(leaker.pid);
    try {
      await leaker.run('go');
      const report = await reportAfter(h, Date.now());
      assert.equal(report.stats.stackCollisions, 0, 'no stack met another (a rewritten walk shows up as one)');
      assert.equal(report.stats.stackFailures, 0);
      for (let k = 0; k < 4; k++) {
        const stacks = report.top.filter((s) => s.frames[0]?.function === `leak_on_cpu${k}`);
        const allocations = stacks.reduce((a, s) => a + s.allocations, 0);
        const bytes = stacks.reduce((a, s) => a + s.bytes, 0);
        assert.deepEqual({ allocations, bytes }, { allocations: 300, bytes: 300 * (1000 + 16 * k) }, `leak_on_cpu${k}`);
      }
    } finally {
      h.stop();
      leaker.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trace mode: one record per allocation and per free of a tracked block', async () => {
  const leaker = await startLeaker(build.debug);
  const h = start(leaker.pid, { MEMWATCHER_PROBES_MEMLEAK_TRACE: 'true' });
  try {
    await leaker.run('go');
    await reportAfter(h, Date.now());
    const events = h.records.filter((r): r is MemleakTraceEvent => r.kind === 'trace' && r.tgid === leaker.pid);
    const allocs = events.filter((e) => e.op === 'alloc' && e.call === 'malloc' && e.size === 1000);
    const frees = events.filter((e) => e.op === 'free' && e.call === 'free' && e.size === 1000);
    assert.equal(allocs.length, 16, 'leak_malloc and churn_malloc: 8 each');
    assert.equal(frees.length, 8, 'churn_malloc frees its 8');
    const allocated = new Set(allocs.map((e) => e.addr));
    for (const f of frees) assert.ok(allocated.has(f.addr), 'a free names an address we saw allocated');
    assert.equal(events.filter((e) => e.op === 'alloc' && e.call === 'mmap' && e.size === 8192).length, 2);
    assert.equal(events.filter((e) => e.op === 'free' && e.call === 'munmap' && e.size === 16384).length, 2);
    assert.equal(events.filter((e) => e.op === 'alloc' && e.call === 'posix_memalign' && e.size === 4096).length, 3);
  } finally {
    h.stop();
    leaker.kill();
  }
});

test('stripped binaries: names from .dynsym when exported, module and address otherwise; bytes exact', async () => {
  for (const binary of [build.strippedDynsym, build.stripped]) {
    const leaker = await startLeaker(binary);
    const h = start(leaker.pid);
    try {
      await leaker.run('go');
      const report = await reportAfter(h, Date.now());
      const inBinary = report.top.filter((s) => s.frames[0]?.module === binary);
      if (binary === build.strippedDynsym) {
        for (const want of Object.values(SCENARIO_LEAKS)) {
          const stacks = inBinary.filter((s) => s.frames[0]?.function === want.function);
          assert.equal(stacks.reduce((a, s) => a + s.bytes, 0), want.bytes, `${want.function} via .dynsym`);
          assert.equal(stacks[0]?.frames[0]?.line, undefined, 'no line info in a stripped binary');
        }
      } else {
        // Same code as the debug build: its symbol table names the stripped frames' addresses.
        const fns = [...functionAddresses(build.debug)].sort((a, b) => (a[1] < b[1] ? 1 : -1));
        const nameOf = (addr: bigint) => fns.find(([, start]) => start <= addr)?.[0];
        for (const want of Object.values(SCENARIO_LEAKS)) {
          const stacks = inBinary.filter((s) => s.frames[0]?.moduleAddress !== undefined && nameOf(s.frames[0].moduleAddress - 1n) === want.function);
          assert.equal(stacks.reduce((a, s) => a + s.bytes, 0), want.bytes, `${want.function} by address`);
          assert.equal(stacks[0]?.frames[0]?.function, undefined);
        }
      }
    } finally {
      h.stop();
      leaker.kill();
    }
  }
});

test('min age: young allocations stay out of the report until they are old enough (real milliseconds)', async () => {
  const leaker = await startLeaker(build.debug);
  const h = start(leaker.pid, { MEMWATCHER_PROBES_MEMLEAK_MIN_AGE_MS: '1000' });
  try {
    await leaker.run('go');
    await new Promise((r) => setTimeout(r, 1100));
    await leaker.run('late');
    const lateAt = Date.now();
    const early = await reportAfter(h, lateAt);
    assert.ok(early.timeMs - lateAt < 900, 'a report within the age limit');
    const got = sites(early);
    assert.equal(got.get(key('LEAK_MALLOC'))?.bytes, 8000, 'old enough');
    assert.equal(got.get(`leak_late:${lines.LEAK_LATE}`), undefined, 'too young');
    assert.equal(early.minAgeMs, 1000);
    const later = await reportAfter(h, lateAt + 1050);
    assert.equal(sites(later).get(`leak_late:${lines.LEAK_LATE}`)?.bytes, 777);
  } finally {
    h.stop();
    leaker.kill();
  }
});

test('sample rate: one allocation in N is recorded, with its true size', async () => {
  const leaker = await startLeaker(build.debug);
  const h = start(leaker.pid, { MEMWATCHER_PROBES_MEMLEAK_SAMPLE_RATE: '10' });
  try {
    await leaker.run('burst 3000');
    const report = await reportAfter(h, Date.now());
    const site = sites(report).get(`leak_burst:${lines.LEAK_BURST}`);
    assert.ok(site, 'some of the burst was sampled');
    // Binomial(3000, 0.1): mean 300, standard deviation 16.4; +-6 sd.
    assert.ok(site.allocations > 200 && site.allocations < 400, `${site.allocations} sampled of 3000`);
    assert.equal(site.bytes, site.allocations * 64);
  } finally {
    h.stop();
    leaker.kill();
  }
});

test('--memleak-lib and --memleak-prefix: a prefixed allocator library; what it lacks is skipped and reported', async () => {
  const user = await startLeaker(build.prefixedUser);
  const h = start(user.pid, { MEMWATCHER_PROBES_MEMLEAK_LIB: 'libprefixed.so', MEMWATCHER_PROBES_MEMLEAK_SYMBOL_PREFIX: 'je_' });
  try {
    const skipped = h.status.skippedHooks.map((s) => s.program).sort();
    assert.deepEqual(skipped, ['je_aligned_alloc', 'je_calloc', 'je_memalign', 'je_posix_memalign', 'je_pvalloc', 'je_realloc', 'je_reallocarray', 'je_valloc']);
    await user.run('go');
    const report = await reportAfter(h, Date.now());
    assert.ok(report.allocatorFunctions.includes('je_malloc'));
    const line = tagLines(PREFIXED_USER_SOURCE).LEAK_JE;
    const got = sites(report);
    const site = got.get(`leak_je:${line}`);
    assert.equal(site?.bytes, 500);
    assert.equal(site?.allocations, 5);
    assert.ok(![...got.values()].some((s) => s.function === 'churn_je'), 'je_free was traced');
  } finally {
    h.stop();
    user.kill();
  }
});

test('kernel mode: kmem tracepoints, kernel stacks from kallsyms, filtered to one process', async () => {
  const leaker = await startLeaker(build.debug);
  const h = startProbe(memleakProbe, {
    MEMWATCHER_PROBES_MEMLEAK_KERNEL: 'true',
    MEMWATCHER_PROBES_MEMLEAK_PIDS: String(leaker.pid),
    MEMWATCHER_PROBES_MEMLEAK_TOP: '50',
    MEMWATCHER_INTERVAL: '0.3',
  });
  try {
    assert.equal(h.status.strategy, 'tracepoint', JSON.stringify(h.status.refused));
    await leaker.run('pipes 100');
    const report = await reportAfter(h, Date.now());
    assert.equal(report.kernel, true);
    const pipeStacks = report.top.filter((s) => s.frames.some((f) => f.function === 'alloc_pipe_info'));
    assert.ok(pipeStacks.length > 0, `no alloc_pipe_info stack in ${report.top.map((s) => s.frames.slice(0, 4).map((f) => f.function).join('<')).join(' | ')}`);
    assert.ok(pipeStacks.reduce((a, s) => a + s.allocations, 0) >= 100, 'each held pipe keeps its pipe_inode_info');
    assert.ok(pipeStacks[0]!.frames.some((f) => /pipe2?$/.test(f.function ?? '')), 'the syscall is on the stack');
  } finally {
    h.stop();
    leaker.kill();
  }
});
