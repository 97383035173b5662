// memleak on the allocator a process really calls, with programs nobody here wrote: Debian's
// redis-server (linked with libjemalloc.so.2, which defines malloc and free before libc.so.6
// does), C++ programs under libstdc++, jemalloc and tcmalloc, and a statically linked program.
// Stacks may be short (these are built without frame pointers): the assertions are on totals,
// on requested sizes and on the object each function was attached in.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { basename } from 'node:path';
import { memleakProbe, type MemleakRecord, type MemleakReport } from '../../src/probes/memleak/index.ts';
import { startProbe, type ProbeHarness } from '../helpers/probe-harness.ts';

const REDIS = '/usr/bin/redis-server';

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
  return g && basename(g.module);
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
