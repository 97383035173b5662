// memleak on the allocator a process really calls, with programs nobody here wrote: Debian's
// redis-server (linked with libjemalloc.so.2, which defines malloc and free before libc.so.6
// does), C++ programs under libstdc++, jemalloc and tcmalloc, and a statically linked program.
// Stacks may be short (these are built without frame pointers): the assertions are on totals,
// on requested sizes and on the object each function was attached in.
import { after, before, test as nodeTest, type TestFn, type TestOptions } from 'node:test';

// Real programs and a compiler per case: minutes under the kernel matrix's emulated guests, whose
// memleak cells memleak.test.ts covers (the same BPF object, every program loaded); here on the host.
const GUEST_SKIP = process.env.MEMWATCHER_IN_GUEST ? 'run on the host (npm test), not in the emulated guests' : false;
function test(name: string, opts: TestOptions | TestFn, fn?: TestFn): void {
  const options = typeof opts === 'function' ? {} : opts;
  const body = typeof opts === 'function' ? opts : fn!;
  nodeTest(name, { ...options, skip: GUEST_SKIP || options.skip }, body);
}
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { memleakProbe } from '../../src/probes/memleak/definition.ts';
import { type MemleakRecord, type MemleakReport } from '../../src/probes/memleak/index.ts';
import { runCli } from '../helpers/cli.ts';
import { startProbe, type ProbeHarness } from '../helpers/probe-harness.ts';
import { LEAKER_SOURCE, SCENARIO_LEAKS, sites, startLeaker, tagLines } from './memleak-leaker.ts';

const REDIS = '/usr/bin/redis-server';
const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const JEMALLOC = `${LIBDIR}/libjemalloc.so.2`;
const TCMALLOC = `${LIBDIR}/libtcmalloc_minimal.so.4`;
const FIXTURES = join(import.meta.dirname, '../fixtures/memleak');

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'memleak-allocators-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function start(pid: number, env: Record<string, string> = {}): ProbeHarness<MemleakRecord> {
  const h = startProbe(memleakProbe, {
    MEMWATCHER_PROBES_MEMLEAK_PIDS: String(pid),
    MEMWATCHER_PROBES_MEMLEAK_TOP: '100000',
    MEMWATCHER_INTERVAL: '0.3',
    MEMWATCHER_PROBES_MEMLEAK_STACK_MAP_SIZE: '32768',
    ...env,
  });
  assert.equal(h.status.strategy, 'uprobe', `memleak did not attach: ${JSON.stringify(h.status.refused)}`);
  return h;
}

async function reportAfter(h: ProbeHarness<MemleakRecord>, sinceMs: number, pred: (r: MemleakReport) => boolean = () => true): Promise<MemleakReport> {
  return await h.waitFor((r) => r.kind === 'report' && r.timeMs > sinceMs && pred(r), 30_000) as MemleakReport;
}

/** The object `func` was attached in, by base name. */
function attachedIn(r: MemleakReport, func: string): string | undefined {
  const g = r.allocators.find((a) => a.functions.includes(func));
  // Versioned file names: the link's target (libstdc++.so.6.0.30) is what the process maps.
  return g && basename(g.module).replace(/^(.*\.so\.\d+)(\.\d+)+$/, '$1');
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A minimal RESP client: sends commands pipelined, resolves after as many replies (all +OK or errors). */
async function redisPipeline(port: number, commands: string[][]): Promise<string[]> {
  const sock = createConnection({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const replies: string[] = [];
  let buf = '';
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        replies.push(buf.slice(0, nl));
        buf = buf.slice(nl + 2);
      }
      if (replies.length >= commands.length) resolve();
    });
    sock.on('error', reject);
  });
  sock.write(commands.map((c) => `*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join(''));
  await done;
  sock.end();
  return replies;
}

interface Redis {
  child: ChildProcess;
  port: number;
  stop(): void;
}

async function startRedis(): Promise<Redis> {
  const port = await freePort();
  const child = spawn(REDIS, ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not get ready: ${out}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
  child.stdout!.resume();
  return { child, port, stop: () => { if (child.exitCode === null) child.kill('SIGKILL'); } };
}

test('redis-server: malloc & co. attached in libjemalloc.so.2; the values of N SETs are outstanding through redis\'s own code', { skip: !existsSync(REDIS) && 'apt-get install redis-server' }, async () => {
  const redis = await startRedis();
  const h = start(redis.child.pid!);
  try {
    const first = await reportAfter(h, 0);
    for (const f of ['malloc', 'free', 'calloc', 'realloc', 'mallocx', 'sdallocx', 'dallocx', '_Znwm', '_ZdlPv']) {
      assert.equal(attachedIn(first, f), 'libjemalloc.so.2', `${f} in ${JSON.stringify(first.allocators)}`);
    }
    assert.ok(first.allocatorModules.some((m) => basename(m) === 'libjemalloc.so.2'));
    // Named as ps names it (its executable is redis-check-rdb), with the arguments it shows.
    assert.equal(first.executable, 'redis-server');
    assert.match(first.commandLine, new RegExp(`redis-server 127\\.0\\.0\\.1:${redis.port}$`));

    const N = 2000;
    const V = 1000;
    const value = 'v'.repeat(V);
    const replies = await redisPipeline(redis.port, Array.from({ length: N }, (_, i) => ['SET', `key:${i}`, value]));
    assert.ok(replies.every((r) => r === '+OK'), replies.find((r) => r !== '+OK'));
    const since = Date.now();
    const report = await reportAfter(h, since);
    const exe = realpathSync(REDIS);
    const throughRedis = report.top.filter((s) => s.frames.some((f) => f.module === exe));
    const bytes = throughRedis.reduce((a, s) => a + s.bytes, 0);
    assert.ok(bytes >= N * V, `${bytes} bytes outstanding through ${exe}, want >= ${N * V}`);
    assert.ok(report.totals.allocations >= N, `${report.totals.allocations} allocations`);
  } finally {
    h.stop();
    redis.stop();
  }
});

test('the CLI\'s first report names the process as ps does and says where malloc & co. were attached', { skip: !existsSync(REDIS) && 'apt-get install redis-server' }, async () => {
  const redis = await startRedis();
  try {
    const r = await runCli(['-l', String(redis.child.pid), '--interval', '0.5', '--memleak-count', '2'], {}, 45_000);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const headers = lines.filter((l) => /^\[\d\d:\d\d:\d\d\] pid \d+ \(redis-server\): top /.test(l));
    assert.equal(headers.length, 2, r.stdout);
    const allocator = lines.filter((l) => l.startsWith('allocator: '));
    assert.equal(allocator.length, 1, 'on the first report only (every report with -v)');
    assert.match(allocator[0]!, /^allocator: malloc, free, calloc, realloc, .*mallocx.*, operator new\/delete \(\d+ forms\) in \/usr\/lib\/x86_64-linux-gnu\/libjemalloc\.so\.2; .*pvalloc.* in \/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6$/);
    assert.match(r.stderr, /memleak: process \d+ \(redis-server\): malloc, free, .* in \/usr\/lib\/x86_64-linux-gnu\/libjemalloc\.so\.2/);
  } finally {
    redis.stop();
  }
});

/** What cxx-leaker's "go" leaves outstanding, per leaking function (demangled; requested sizes). */
const CXX_LEAKS: Record<string, { bytes: number; allocations: number; operator: string }> = {
  'leak_new()': { bytes: 7 * 200, allocations: 7, operator: '_Znwm' },
  'leak_array()': { bytes: 5 * 3000, allocations: 5, operator: '_Znam' },
  'leak_nothrow()': { bytes: 3 * 500, allocations: 3, operator: '_ZnamRKSt9nothrow_t' },
  'leak_aligned()': { bytes: 4 * 256, allocations: 4, operator: '_ZnwmSt11align_val_t' },
};

function buildCxx(name: string, extra: string[] = []): string {
  const out = join(dir, name);
  execFileSync('g++', ['-O2', '-o', out, join(FIXTURES, 'cxx-leaker.cc'), ...extra]);
  return out;
}

const CXX_CASES: Array<{ name: string; lib: string; build: () => string; env?: Record<string, string>; probeEnv?: Record<string, string>; skip?: string | false }> = [
  { name: 'libstdc++ (operators calling glibc\'s malloc)', lib: 'libstdc++.so.6', build: () => buildCxx('cxx-leaker'), probeEnv: { MEMWATCHER_PROBES_MEMLEAK_COMMAND_LINE_MAX: '12' } },
  { name: 'LD_PRELOAD=libjemalloc.so.2', lib: 'libjemalloc.so.2', build: () => buildCxx('cxx-leaker'), env: { LD_PRELOAD: JEMALLOC }, skip: !existsSync(JEMALLOC) && 'apt-get install libjemalloc2' },
  { name: 'LD_PRELOAD=libtcmalloc_minimal.so.4', lib: 'libtcmalloc_minimal.so.4', build: () => buildCxx('cxx-leaker'), env: { LD_PRELOAD: TCMALLOC }, skip: !existsSync(TCMALLOC) && 'apt-get install libtcmalloc-minimal4' },
  { name: 'linked with -ltcmalloc_minimal', lib: 'libtcmalloc_minimal.so.4', build: () => buildCxx('cxx-leaker-tc', [TCMALLOC]), skip: !existsSync(TCMALLOC) && 'apt-get install libtcmalloc-minimal4' },
];

for (const c of CXX_CASES) {
  test(`C++ operator new at -O2 under ${c.name}: exact outstanding counts and requested bytes; every delete form seen`, { skip: c.skip }, async () => {
    const binary = c.build();
    const leaker = await startLeaker(binary, { ...process.env, ...c.env });
    const h = start(leaker.pid, c.probeEnv);
    try {
      await leaker.run('go');
      const report = await reportAfter(h, Date.now());
      assert.equal(report.executable, basename(binary));
      const max = Number(c.probeEnv?.MEMWATCHER_PROBES_MEMLEAK_COMMAND_LINE_MAX ?? 512);
      assert.equal(report.commandLine, binary.slice(0, max), 'its argv, cut at probes.memleak.command_line_max');
      for (const want of Object.values(CXX_LEAKS)) assert.equal(attachedIn(report, want.operator), c.lib, `${want.operator} in ${JSON.stringify(report.allocators)}`);
      const byFunction = new Map<string, { bytes: number; allocations: number }>();
      for (const site of sites(report).values()) {
        const t = byFunction.get(site.function) ?? { bytes: 0, allocations: 0 };
        t.bytes += site.bytes;
        t.allocations += site.allocations;
        byFunction.set(site.function, t);
      }
      for (const [fn, want] of Object.entries(CXX_LEAKS)) {
        assert.deepEqual(byFunction.get(fn), { bytes: want.bytes, allocations: want.allocations }, `${fn}; sites: ${JSON.stringify([...byFunction])}`);
      }
      assert.equal(byFunction.get('churn()'), undefined, 'every block churn() allocated was deleted');
    } finally {
      h.stop();
      leaker.kill();
    }
  });
}

test('jemalloc\'s own API (-ljemalloc): mallocx and rallocx leaks exact, xallocx\'s block at the size it returned, dallocx and sdallocx frees', { skip: !existsSync('/usr/include/jemalloc/jemalloc.h') && 'apt-get install libjemalloc-dev' }, async () => {
  const binary = join(dir, 'jemalloc-api');
  execFileSync('gcc', ['-O2', '-o', binary, join(FIXTURES, 'jemalloc-api.c'), '-ljemalloc']);
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const waitFor = (re: RegExp) => new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jemalloc-api: no ${re} in ${out}`)), 10_000);
    const check = () => {
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m);
      }
    };
    const onData = (d: Buffer) => {
      out += d;
      check();
    };
    child.stdout!.on('data', onData);
    check();
  });
  await waitFor(/^ready$/m);
  const h = start(child.pid!);
  try {
    child.stdin!.write('go\n');
    const kept = Number((await waitFor(/^xallocx (\d+)\ndone$/m))[1]);
    const report = await reportAfter(h, Date.now());
    for (const f of ['mallocx', 'rallocx', 'xallocx', 'dallocx', 'sdallocx']) assert.equal(attachedIn(report, f), 'libjemalloc.so.2', f);
    const got = new Map([...sites(report).values()].map((s) => [s.function, s]));
    assert.equal(got.get('leak_mallocx')?.bytes, 6 * 700);
    assert.equal(got.get('leak_mallocx')?.allocations, 6);
    assert.equal(got.get('leak_rallocx')?.bytes, 4 * 2500, 'the blocks rallocx moved from are gone');
    assert.equal(got.get('leak_rallocx')?.allocations, 4);
    assert.equal(got.get('leak_xallocx')?.bytes, kept, 'each block at the size xallocx returned');
    assert.equal(got.get('leak_xallocx')?.allocations, 3);
    assert.equal(got.get('churn'), undefined, 'dallocx and sdallocx freed every churned block');
  } finally {
    h.stop();
    child.kill('SIGKILL');
  }
});

/** leaker.c linked statically: its malloc & co. are glibc's, inside the executable (.symtab). */
function buildStaticLeaker(): string {
  const out = join(dir, 'leaker-static');
  if (!existsSync(out)) execFileSync('gcc', ['-static', '-g', '-fno-omit-frame-pointer', '-O0', '-pthread', '-o', out, LEAKER_SOURCE]);
  return out;
}

const STATIC_SKIP = !existsSync(`${LIBDIR}/libc.a`) && 'apt-get install libc6-dev (libc.a)';

test('a statically linked program (-l PID): its own malloc & co. hooked in the executable; every leak exact at its line', { skip: STATIC_SKIP }, async () => {
  const binary = buildStaticLeaker();
  const lines = tagLines();
  const leaker = await startLeaker(binary);
  const h = start(leaker.pid);
  try {
    await leaker.run('go');
    const report = await reportAfter(h, Date.now());
    for (const f of ['malloc', 'free', 'calloc', 'realloc', 'mmap', 'munmap']) assert.equal(attachedIn(report, f), 'leaker-static', f);
    assert.deepEqual(report.allocatorModules, [], 'the executable is the program: its frames are not the allocator\'s');
    const got = sites(report);
    for (const [tag, want] of Object.entries(SCENARIO_LEAKS)) {
      const site = got.get(`${want.function}:${lines[tag]}`);
      assert.equal(site?.bytes, want.bytes, `${tag}; sites: ${[...got.keys()].join(', ')}`);
      assert.equal(site?.allocations, want.allocations, tag);
    }
    assert.ok(![...got.values()].some((s) => s.function.startsWith('churn_')), 'freed blocks are gone');
  } finally {
    h.stop();
    leaker.kill();
  }
});

test('--memleak-command with a static program: traced from its first statement', { skip: STATIC_SKIP }, async () => {
  const binary = buildStaticLeaker();
  const r = await runCli(['--memleak-command', `${binary} auto 300`, '--interval', '1', '--memleak-top', '50'], {}, 30_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /memleak: \S+leaker-static: malloc, free, .* in \S+leaker-static\n/);
  assert.match(r.stderr, /tracing leaker-static \(pid \d+\) from its first instruction/);
  // The first statement of main() leaks 4321 bytes in one block.
  assert.match(r.stdout, /stack_id=0x[0-9a-f]+ with outstanding allocations: total_size=4321 nr_allocs=1\n[0-9a-f]{16}: leak_at_start @ /);
});

test('--memleak-command with a static program that has no allocator: one warning, the program still runs, exit 0', async () => {
  const binary = join(dir, 'no-allocator');
  execFileSync('gcc', ['-static', '-nostartfiles', '-O2', '-o', binary, join(FIXTURES, 'no-allocator.c')]);
  const r = await runCli(['--memleak-command', binary, '--interval', '1'], {}, 30_000);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => / warn: /.test(l));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /memleak: \S+no-allocator: no allocator to trace: \S+no-allocator is statically linked and its symbol table has no malloc/);
  assert.match(r.stdout, /pid \d+ \(no-allocator\): top 0 of 0 stacks .*process exited: final report/);
});

test('--memleak-command with a script: its #! interpreter\'s allocator; without #!: one line, exit 2', async () => {
  const script = join(dir, 'leak.py');
  writeFileSync(script, '#!/usr/bin/python3\nimport time\nkeep = [bytearray(3000000 + i) for i in range(4)]\ntime.sleep(2.5)\n', { mode: 0o755 });
  const ok = await runCli(['--memleak-command', script, '--interval', '1', '--memleak-top', '100'], {}, 30_000);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /memleak: \S+leak\.py: malloc, free, .* in \/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6/);
  // Each bytearray is one malloc of its size (plus one), seen in the reports made while it
  // sleeps (Python frees them as it exits); without frame pointers their stacks may be one.
  const totals = [...ok.stdout.matchAll(/^\[[\d:]+\] pid \d+ \(leak\.py\): top .* total_size=(\d+) nr_allocs=\d+$/gm)].map((m) => Number(m[1]));
  assert.ok(totals.some((t) => t >= 4 * 3000000), `report totals: ${totals.join(', ')}`);

  const plain = join(dir, 'plain.sh');
  writeFileSync(plain, 'echo hello\n', { mode: 0o755 });
  const bad = await runCli(['--memleak-command', plain], {}, 30_000);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /is neither an ELF program nor a script starting with #!/);
  assert.equal(bad.stdout, '');
});
