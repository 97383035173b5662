// memleak's in-kernel CFI unwinder (bpf/unwind.bpf.h) against gdb on the same process. The
// target (test/fixtures/unwind/deep.c) is built as distributions build: -O2
// -fomit-frame-pointer, rbp busy with data. Its leak goes through 20-odd frames: the program's
// own functions (one with an rbp-based CFA), the C library's qsort (no frame pointers either),
// back into the program, recursion. gdb, attached to the process and stopped at that malloc,
// prints the true stack; memleak, on the same process afterwards (same addresses), must report
// the same return addresses in the same order, down to _start, not truncated. (gdb also shows
// frames that are not on the stack: functions inlined into their caller, and callers it infers
// from call-site debug information after a tail call, qsort -> qsort_r here; both are left out.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFileMapping, readProcessMaps } from '../../src/host/maps.ts';
import { memleakProbe } from '../../src/probes/memleak/definition.ts';
import { buildObjectTable } from '../../src/unwind/object.ts';
import type { MemleakRecord, MemleakReport } from '../../src/probes/memleak/index.ts';
import { startProbe } from '../helpers/probe-harness.ts';
import { startLeaker, type Leaker } from './memleak-leaker.ts';

const SOURCE = join(import.meta.dirname, '../fixtures/unwind/deep.c');
const CXX_SOURCE = join(import.meta.dirname, '../fixtures/unwind/deep.cc');
const CXX_LEAK_SIZE = 4321;
const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const JEMALLOC = `${LIBDIR}/libjemalloc.so.2`;
const TCMALLOC = `${LIBDIR}/libtcmalloc_minimal.so.4`;
const LIB_SOURCE = join(import.meta.dirname, '../fixtures/unwind/dlib.c');
const LEAK_SIZE = 12345;
const DLIB_LEAK_SIZE = 23456;

let dir: string;
let binary: string;
let lib: string;
let cxx: string;
let cxxTc: string;
let fpOnly: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'unwind-test-'));
  binary = join(dir, 'deep');
  lib = join(dir, 'libdlib.so');
  execFileSync('gcc', ['-O2', '-fomit-frame-pointer', '-g', '-o', binary, SOURCE, '-ldl']);
  execFileSync('gcc', ['-O2', '-fomit-frame-pointer', '-g', '-shared', '-fPIC', '-o', lib, LIB_SOURCE]);
  // g++'s defaults (-O2 omits frame pointers on x86-64); tcmalloc linked by its full path
  // (libtcmalloc-minimal4 ships no unversioned .so to -l).
  // Frame pointers and no CFI at all: memleak walks this object's frames by rbp.
  fpOnly = join(dir, 'deep-fp');
  execFileSync('gcc', ['-O2', '-fno-omit-frame-pointer', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-g', '-o', `${fpOnly}.full`, SOURCE, '-ldl']);
  execFileSync('objcopy', ['--remove-section', '.eh_frame', '--remove-section', '.eh_frame_hdr', '--remove-section', '.debug_frame', `${fpOnly}.full`, fpOnly]);
  cxx = join(dir, 'deep-cxx');
  execFileSync('g++', ['-O2', '-g', '-o', cxx, CXX_SOURCE]);
  if (existsSync(TCMALLOC)) {
    cxxTc = join(dir, 'deep-cxx-tc');
    execFileSync('g++', ['-O2', '-g', '-o', cxxTc, CXX_SOURCE, TCMALLOC]);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface GdbFrame {
  pc: bigint;
  function: string;
  /** gdb.NORMAL_FRAME, INLINE_FRAME (a function inlined into the next frame: same pc) or
   * TAILCALL_FRAME (a caller gdb infers from call-site debug info that jumped, not called: it
   * is not on the stack). */
  type: 'normal' | 'inline' | 'tailcall' | string;
}

// gdb's own frame list, with each frame's type: `bt` alone does not tell a tail-call frame
// (qsort jumps to qsort_r; gdb shows qsort from libc's debug information) from a real one.
const GDB_FRAMES = `
import gdb
names = {gdb.NORMAL_FRAME: "normal", gdb.INLINE_FRAME: "inline", gdb.TAILCALL_FRAME: "tailcall"}
f = gdb.newest_frame()
while f is not None:
    print("FRAME %s 0x%x %s" % (names.get(f.type(), str(f.type())), f.pc(), f.name()))
    f = f.older()
`;

/** gdb attached to process \`pid\`, stopped at the call of \`func\` that \`condition\` selects
 * while \`trigger\` runs: the whole stack. */
async function gdbStack(pid: number, condition: string, trigger: () => Promise<void>, func = 'malloc', name = new RegExp(func)): Promise<{ frames: GdbFrame[]; text: string }> {
  const script = join(dir, 'frames.py');
  writeFileSync(script, GDB_FRAMES);
  const gdb = spawn('gdb', ['-q', '-batch', '-p', String(pid),
    '-ex', 'set backtrace past-main on', '-ex', `break ${func} if ${condition}`, '-ex', 'continue', '-ex', 'bt', '-x', script, '-ex', 'detach'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => gdb.on('exit', resolve));
  const armed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gdb did not set its breakpoint: ${out}`)), 30_000);
    gdb.stdout.on('data', (d) => {
      out += d;
      if (/Breakpoint 1 at/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    gdb.stderr.on('data', (d) => (out += d));
  });
  await armed;
  // The process is stopped under gdb until \`continue\`; the command waits in its pipe.
  const done = trigger();
  assert.equal(await exited, 0, out);
  await done;
  const frames: GdbFrame[] = [];
  for (const line of out.split('\n')) {
    const m = /^FRAME (\S+) (0x[0-9a-f]+) (.+)$/.exec(line);
    if (m) frames.push({ type: m[1]!, pc: BigInt(m[2]!), function: m[3]! });
  }
  assert.ok(frames.length > 10, `gdb's frames:\n${out}`);
  assert.match(frames[0]!.function, name, `gdb stopped in ${func}`);
  return { frames: frames.slice(1), text: out };
}

/** memleak traces `leaker` while it runs one `go`: the first report holding a stack of exactly
 * `size` outstanding bytes, and that stack. */
async function tracedStack(leaker: Leaker, size: number): Promise<{ report: MemleakReport; stack: MemleakReport['top'][number] }> {
  const h = startProbe(memleakProbe, {
    MEMWATCHER_PROBES_MEMLEAK_PIDS: String(leaker.pid),
    MEMWATCHER_PROBES_MEMLEAK_TOP: '50',
    MEMWATCHER_INTERVAL: '0.3',
  });
  try {
    assert.equal(h.status.strategy, 'uprobe', `memleak did not attach: ${JSON.stringify(h.status.refused)}`);
    const since = Date.now();
    await leaker.run('go');
    const report = await h.waitFor((r) => r.kind === 'report' && r.timeMs > since && r.top.some((s) => s.bytes === size), 30_000) as MemleakReport;
    return { report, stack: report.top.find((s) => s.bytes === size)! };
  } finally {
    h.stop();
  }
}

test('a -O2 -fomit-frame-pointer program: memleak\'s stack is gdb\'s, frame for frame, through the C library to _start', async () => {
  const leaker = await startLeaker(binary);
  try {
    const gdb = await gdbStack(leaker.pid, `$rdi == ${LEAK_SIZE}`, () => leaker.run('go'));
    const truth = gdb.frames;
    const { report, stack } = await tracedStack(leaker, LEAK_SIZE);
    {
      const got = stack.frames.map((f) => f.address);
      const real = truth.filter((f) => f.type === 'normal');
      const want = real.map((f) => f.pc);
      const show = () => `memleak:\n${stack.frames.map((f) => `  0x${f.address.toString(16)} ${f.function ?? '?'}`).join('\n')}\ngdb:\n${truth.map((f) => `  0x${f.pc.toString(16)} ${f.function} (${f.type})`).join('\n')}\n${gdb.text}`;
      assert.deepEqual(got, want, show());
      assert.notEqual(stack.truncated, true, 'the walk reached _start');
      // The program's own frames by name, in gdb's order.
      const ours = (fs: Array<{ function?: string; module?: string }>) => fs.filter((f) => f.module === binary).map((f) => f.function);
      const gdbOwn = real.filter((f) => stack.frames.find((s) => s.address === f.pc)?.module === binary).map((f) => f.function);
      assert.deepEqual(ours(stack.frames), gdbOwn, show());
      assert.deepEqual(gdbOwn.slice(0, 7), ['leaf', 'recurse', 'recurse', 'recurse', 'recurse', 'with_alloca', 'compare'], show());
      assert.deepEqual(gdbOwn.slice(-4), ['outer', 'run_command', 'main', '_start'], show());
      assert.equal(report.stats.stackTruncated, 0, 'no allocation of this process had a truncated stack');
    }
  } finally {
    leaker.kill();
  }
});

test('a program with frame pointers and no CFI: walked by rbp, the stack ends cleanly at _start (its zero rbp), not counted truncated', async () => {
  // gdb is no oracle here: without CFI it loses the frames at with_alloca's alloca. The source's
  // call chain is: the same functions the CFI build's gdb test names, in that order.
  const leaker = await startLeaker(fpOnly);
  try {
    const { report, stack } = await tracedStack(leaker, LEAK_SIZE);
    const show = `memleak:\n${stack.frames.map((f) => `  0x${f.address.toString(16)} ${f.function ?? '?'} ${f.module ?? ''}`).join('\n')}`;
    const own = stack.frames.filter((f) => f.module === fpOnly).map((f) => f.function);
    assert.deepEqual(own, ['leaf', 'recurse', 'recurse', 'recurse', 'recurse', 'with_alloca', 'compare', 'outer', 'run_command', 'main', '_start'], show);
    const names = stack.frames.map((f) => f.function);
    assert.ok(names.indexOf('qsort_r') > names.indexOf('compare') && names.indexOf('qsort_r') < names.indexOf('outer'), `the C library's qsort between compare and outer:\n${show}`);
    assert.notEqual(stack.truncated, true, 'a zero rbp is the outermost frame, not a cut');
    assert.equal(report.stats.stackTruncated, 0, 'no allocation of this process had a truncated stack');
  } finally {
    leaker.kill();
  }
});

test('a library dlopen()ed after attach: cut short (counted) until the maps are re-read, never misattributed; whole after', async (t) => {
  const leaker = await startLeaker(binary, { ...process.env, UNWIND_DLIB: lib });
  const h = startProbe(memleakProbe, {
    MEMWATCHER_PROBES_MEMLEAK_PIDS: String(leaker.pid),
    MEMWATCHER_PROBES_MEMLEAK_TOP: '50',
    MEMWATCHER_INTERVAL: '0.3',
  });
  try {
    assert.equal(h.status.strategy, 'uprobe', `memleak did not attach: ${JSON.stringify(h.status.refused)}`);
    const dlStacks = (r: MemleakReport) => r.top.filter((s) => s.frames[0]?.function === 'dlib_inner');
    // dlopen and the first leak in one command: before any re-read of the maps.
    let since = Date.now();
    await leaker.run('dl');
    const first = await h.waitFor((r) => r.kind === 'report' && r.timeMs > since && dlStacks(r).length > 0, 30_000) as MemleakReport;
    // The maps are re-read every second: after that, the library's frames unwind.
    await new Promise((r) => setTimeout(r, 1500));
    since = Date.now();
    await leaker.run('dl');
    const later = await h.waitFor((r) => r.kind === 'report' && r.timeMs > since && dlStacks(r).reduce((n, s) => n + s.allocations, 0) === 2, 30_000) as MemleakReport;
    const stacks = dlStacks(later);
    const whole = stacks.find((s) => !s.truncated);
    assert.ok(whole, 'the leak after the re-read has a whole stack');
    const names = whole.frames.map((f) => f.function);
    assert.deepEqual(names.slice(0, 5), ['dlib_inner', 'dlib_leak', 'dl_command', 'run_command', 'main'], names.join(' <- '));
    assert.equal(names.at(-1), '_start');
    assert.equal(whole.frames[0]!.module, lib);
    const cut = dlStacks(first)[0]!;
    t.diagnostic(`first leak from the new library: ${cut.truncated ? `truncated after ${cut.frames.length} frame(s)` : 'whole (the maps were re-read before it)'}`);
    if (cut.truncated) {
      // Only what the registers give for sure: the allocator's caller, in the new library.
      assert.ok(first.stats.stackTruncated >= 1, 'counted');
      assert.deepEqual(cut.frames.map((f) => f.address), whole.frames.slice(0, cut.frames.length).map((f) => f.address), 'a prefix of the true stack');
      assert.equal(cut.frames.length, 1);
      assert.equal(stacks.length, 2);
    } else {
      // The re-read won the race with the first leak: both stacks are the same whole one.
      assert.equal(stacks.length, 1);
    }
  } finally {
    h.stop();
    leaker.kill();
  }
});

const CXX_CASES: Array<{ name: string; binary: () => string; env?: Record<string, string>; skip?: string | false }> = [
  { name: 'libstdc++ (operator new calling glibc\'s malloc)', binary: () => cxx },
  { name: 'LD_PRELOAD=libjemalloc.so.2', binary: () => cxx, env: { LD_PRELOAD: JEMALLOC }, skip: !existsSync(JEMALLOC) && 'apt-get install libjemalloc2' },
  { name: 'LD_PRELOAD=libtcmalloc_minimal.so.4', binary: () => cxx, env: { LD_PRELOAD: TCMALLOC }, skip: !existsSync(TCMALLOC) && 'apt-get install libtcmalloc-minimal4' },
  { name: 'linked with libtcmalloc_minimal.so.4', binary: () => cxxTc, skip: !existsSync(TCMALLOC) && 'apt-get install libtcmalloc-minimal4' },
];

for (const c of CXX_CASES) {
  test(`C++ at -O2 (no frame pointers), new under ${c.name}: memleak's stack is gdb's at operator new, frame for frame`, { skip: c.skip }, async () => {
    const binary = c.binary();
    const leaker = await startLeaker(binary, { ...process.env, ...c.env });
    try {
      const gdb = await gdbStack(leaker.pid, `$rdi == ${CXX_LEAK_SIZE}`, () => leaker.run('go'), '_Znwm', /^(operator new|tc_new)/); // tcmalloc's _Znwm is an alias of tc_new*
      const real = gdb.frames.filter((f) => f.type === 'normal');
      const { report, stack } = await tracedStack(leaker, CXX_LEAK_SIZE);
      {
        const show = `memleak:\n${stack.frames.map((f) => `  0x${f.address.toString(16)} ${f.function ?? '?'} ${f.module ?? ''}`).join('\n')}\n${gdb.text}`;
        assert.deepEqual(stack.frames.map((f) => f.address), real.map((f) => f.pc), show);
        assert.notEqual(stack.truncated, true, 'the walk reached _start');
        // The program's own frames by name, innermost first, as the user reads them.
        const own = stack.frames.filter((f) => f.module === binary).map((f) => f.function ?? '?');
        const want = [/^Node::grow/, /^Walker<0>::step/, /^Walker<1>::step/, /^Walker<2>::step/, /^Walker<3>::step/, /^Tree::visit/];
        want.forEach((re, i) => assert.match(own[i] ?? '', re, show));
        assert.ok(own.some((f) => /^run_command/.test(f)), show);
        assert.deepEqual(own.slice(-2), ['main', '_start'], show);
        assert.equal(report.stats.stackTruncated, 0, 'no allocation of this process had a truncated stack');
      }
    } finally {
      leaker.kill();
    }
  });
}

const REDIS = '/usr/bin/redis-server';
const VALUE_SIZE = 65432;

/** SET of a VALUE_SIZE value by a new redis-cli client (a fresh query buffer: the same path each time). */
function redisSet(port: number, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cli = spawn('redis-cli', ['-p', String(port), '-x', 'set', key], { stdio: ['pipe', 'ignore', 'inherit'] });
    cli.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli exited ${code}`))));
    cli.stdin.end(Buffer.alloc(VALUE_SIZE - 1, 'v'));
  });
}

test('Debian\'s redis-server (stripped, -O2, jemalloc): a SET\'s stack is gdb\'s, frame for frame', { skip: !existsSync(REDIS) && 'apt-get install redis-server' }, async () => {
  const port = 20000 + (process.pid % 20000);
  const redis = spawn(REDIS, ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis did not start: ${out}`)), 20_000);
      redis.stdout!.on('data', (d) => {
        out += d;
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // The query buffer grown to hold the value (it becomes the value: outstanding), by
    // jemalloc's realloc <- zrealloc_usable <- _sdsMakeRoomFor <- processMultibulkBuffer.
    const inRange = (n: number) => n > VALUE_SIZE && n < VALUE_SIZE + 4096;
    const gdb = await gdbStack(redis.pid!, `$rsi > ${VALUE_SIZE} && $rsi < ${VALUE_SIZE + 4096}`, () => redisSet(port, 'k1'), 'realloc');
    const real = gdb.frames.filter((f) => f.type === 'normal');
    const h = startProbe(memleakProbe, {
      MEMWATCHER_PROBES_MEMLEAK_PIDS: String(redis.pid),
      MEMWATCHER_PROBES_MEMLEAK_LIB: 'libjemalloc.so.2',
      MEMWATCHER_PROBES_MEMLEAK_TOP: '50',
      MEMWATCHER_INTERVAL: '0.3',
    });
    try {
      const since = Date.now();
      await redisSet(port, 'k2');
      const report = await h.waitFor((r) => r.kind === 'report' && r.timeMs > since && r.top.some((s) => inRange(s.bytes)), 30_000) as MemleakReport;
      const stack = report.top.find((s) => inRange(s.bytes))!;
      const show = `memleak:\n${stack.frames.map((f) => `  0x${f.address.toString(16)} ${f.function ?? '?'}`).join('\n')}\n${gdb.text}`;
      assert.deepEqual(stack.frames.map((f) => f.address), real.map((f) => f.pc), show);
      assert.notEqual(stack.truncated, true);
      const names = stack.frames.map((f) => f.function);
      for (const fn of ['zrealloc_usable', '_sdsMakeRoomFor', 'processMultibulkBuffer', 'processInputBuffer', 'readQueryFromClient', 'aeMain', 'main']) {
        assert.ok(names.includes(fn), `${fn} in the stack: ${show}`);
      }
    } finally {
      h.stop();
    }
  } finally {
    redis.kill('SIGKILL');
  }
});

/** Executable files a process maps, by the kernel's identity (device:inode) -> path. */
function execFiles(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of readProcessMaps(pid).mappings) {
    if (m.perms.includes('x') && isFileMapping(m)) out.set(`${m.devMajor}:${m.devMinor}:${m.inode}`, `/proc/${pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`);
  }
  return out;
}

function tableRows(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return buildObjectTable(fd).rows.length;
  } finally {
    closeSync(fd);
  }
}

test('unwind tables: bounded by probes.memleak.unwind_table_max_bytes; a traced process that exits frees the rows of the objects only it mapped', async () => {
  const c = await startLeaker(binary);
  const cc = await startLeaker(cxx);
  const maxBytes = 16 << 20;
  const h = startProbe(memleakProbe, {
    MEMWATCHER_PROBES_MEMLEAK_PIDS: `${c.pid},${cc.pid}`,
    MEMWATCHER_PROBES_MEMLEAK_UNWIND_TABLE_MAX_BYTES: String(maxBytes),
    MEMWATCHER_INTERVAL: '0.3',
  });
  try {
    assert.equal(h.status.strategy, 'uprobe', `memleak did not attach: ${JSON.stringify(h.status.refused)}`);
    // What the C++ process alone maps (its executable, libstdc++, libm, libgcc_s), and its rows,
    // built here as the probe builds them.
    const shared = execFiles(c.pid);
    const only = [...execFiles(cc.pid)].filter(([k]) => !shared.has(k));
    assert.ok(only.length >= 3, JSON.stringify(only));
    const onlyRows = only.reduce((n, [, path]) => n + tableRows(path), 0);
    let since = Date.now();
    const before = (await h.waitFor((r) => r.kind === 'report' && r.timeMs > since && r.pid === c.pid, 30_000) as MemleakReport).unwind!;
    assert.equal(before.rowsMax, maxBytes / 16);
    const allRows = [...new Map([...shared, ...execFiles(cc.pid)])].reduce((n, [, path]) => n + tableRows(path), 0);
    assert.equal(before.rows, allRows, 'every object of both processes, each once');
    assert.equal(before.objects, shared.size + only.length);
    since = Date.now();
    cc.kill();
    await h.waitFor((r) => r.kind === 'report' && r.pid === cc.pid && r.ended === 'exited', 30_000);
    since = Date.now();
    const after = (await h.waitFor((r) => r.kind === 'report' && r.timeMs > since && r.pid === c.pid, 30_000) as MemleakReport).unwind!;
    assert.deepEqual(after, { rows: before.rows - onlyRows, rowsMax: before.rowsMax, objects: shared.size }, `freed: ${only.map(([, p]) => p).join(', ')}`);
    // The survivor still unwinds whole (its objects' rows were not touched).
    since = Date.now();
    await c.run('go');
    const r = await h.waitFor((x) => x.kind === 'report' && x.timeMs > since && x.pid === c.pid && x.top.some((s) => s.bytes === LEAK_SIZE), 30_000) as MemleakReport;
    const stack = r.top.find((s) => s.bytes === LEAK_SIZE)!;
    assert.notEqual(stack.truncated, true);
    assert.equal(stack.frames.at(-1)?.function, '_start');
  } finally {
    h.stop();
    c.kill();
    cc.kill();
  }
});
