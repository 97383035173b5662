// growth on the real kernel, through the real CLI: a leaking program built without frame
// pointers is named by its leaking function and becomes a leak suspect (span over OTLP), with
// only tracepoints attached (no uprobe); a program that frees what it allocates is not; and
// Debian's redis-server filling up is attributed through readQueryFromClient, about as much as
// its RSS grew.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { bpfObjectsOf, startCli, type CliRun } from '../helpers/cli.ts';
import { startOtlpReceiver } from '../../harness/otlp-receiver.ts';
import { freePort } from '../helpers/prometheus.ts';
import { scaled } from '../../harness/time-scale.ts';

const REDIS = '/usr/bin/redis-server';
const BENCH = '/usr/bin/redis-benchmark';

// 1 MiB every 100 ms, never freed; the churn program allocates and frees as much.
const LEAK_C = `#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) void *leak_block(size_t n) {
  char *p = malloc(n); /* LEAK_LINE */
  memset(p, 1, n);
  return p;
}
int main(void) {
  for (int round = 0; round < 600; round++) {
    for (int i = 0; i < 256; i++) leak_block(4096);
    usleep(100000);
  }
  return 0;
}
`;
const CHURN_C = `#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) void churn_round(void) {
  void *p[256];
  for (int i = 0; i < 256; i++) { p[i] = malloc(4096); memset(p[i], 2, 4096); }
  for (int i = 0; i < 256; i++) free(p[i]);
}
int main(void) {
  for (int round = 0; round < 600; round++) { churn_round(); usleep(100000); }
  return 0;
}
`;
const LEAK_LINE = LEAK_C.split('\n').findIndex((l) => l.includes('LEAK_LINE')) + 1;

let dir: string;
const children: ChildProcess[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-growth-'));
  for (const [name, src] of [['gleak', LEAK_C], ['gchurn', CHURN_C]] as const) {
    writeFileSync(join(dir, `${name}.c`), src);
    execFileSync('gcc', ['-O2', '-fomit-frame-pointer', '-g', '-o', join(dir, name), join(dir, `${name}.c`)]);
  }
});
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(path: string, args: string[] = []): ChildProcess {
  const c = spawn(path, args, { stdio: 'ignore' });
  children.push(c);
  return c;
}

interface Line { pid: number; comm: string; kb: number; where: string; suspect: boolean }

/** The -g console lines: `[HH:MM:SS] growth pid N (comm): +X kB, rss ..., lead +Y kB WHERE [leak suspect]`. */
function growthLines(stdout: string): Line[] {
  const out: Line[] = [];
  for (const l of stdout.split('\n')) {
    const m = /growth pid (\d+) \((.*?)\): \+(\d+) kB, rss \d+ kB \(.*?\), mapped \+\d+ kB, lead \+\d+ kB (.*?)( \[leak suspect\])?$/.exec(l);
    if (m) out.push({ pid: Number(m[1]), comm: m[2]!, kb: Number(m[3]), where: m[4]!, suspect: m[5] !== undefined });
  }
  return out;
}

async function stop(cli: CliRun): Promise<void> {
  if (cli.child.exitCode === null) cli.child.kill('SIGINT');
  const { code } = await cli.exited;
  assert.equal(code, 0, cli.stderr());
}

test('a leaking -O2 -fomit-frame-pointer program leads by its leaking function and is a suspect; churn is not; no uprobe', async () => {
  const rx = await startOtlpReceiver();
  const leak = run(join(dir, 'gleak'));
  const churn = run(join(dir, 'gchurn'));
  let cli: CliRun | undefined;
  try {
    cli = startCli(['-g', '--growth-comm', 'gleak', '--growth-comm', 'gchurn', '--interval', '1', '--exporter', 'console', '--exporter', 'otlp'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      MEMWATCHER_PROBES_GROWTH_SUSPECT_INTERVALS: '3',
    });
    await cli.waitForOutput(new RegExp(`growth pid ${leak.pid} .*\\n(.*\\n)*.*growth pid ${leak.pid} `), 15_000);
    const first = growthLines(cli.stdout()).filter((l) => l.pid === leak.pid).slice(0, 2);
    assert.ok(first.some((l) => new RegExp(`^leak_block \\S*gleak\\.c:${LEAK_LINE}$`).test(l.where)), `within two intervals the lead is leak_block at gleak.c:${LEAK_LINE}:\n${cli.stdout()}`);

    // Only tracepoints: every perf event the agent holds is one, and no link is a uprobe.
    const perf = (JSON.parse(execFileSync('bpftool', ['-j', 'perf', 'show'], { encoding: 'utf8' })) as Array<{ pid: number; fd_type: string }>).filter((p) => p.pid === cli!.child.pid);
    assert.ok(perf.length >= 8, `the agent's perf events: ${JSON.stringify(perf)}`);
    assert.deepEqual([...new Set(perf.map((p) => p.fd_type))], ['tracepoint']);
    for (const id of bpfObjectsOf(cli.child.pid!).links) {
      const link = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show', 'id', String(id)], { encoding: 'utf8' })) as { type: string };
      assert.ok(!/uprobe/.test(link.type), `link ${id} is ${link.type}`);
    }

    const span = await rx.waitFor(() => rx.spans().find((s) => s.name === 'memory.growth' && s.attributes['process.pid'] === leak.pid), 20_000);
    assert.equal(span.attributes['code.function.name'], 'leak_block', `the suspect's lead stack:\n${span.attributes['code.stacktrace']}\nconsole:\n${cli.stdout().slice(-3000)}`);
    assert.equal(span.attributes['code.line.number'], LEAK_LINE);
    assert.match(String(span.attributes['code.file.path']), /gleak\.c$/);
    assert.match(String(span.attributes['code.stacktrace']), /leak_block[^\n]*\n[^\n]*main/);
    const trend = span.attributes['memwatcher.growth.rss_trend'] as number[];
    assert.equal(trend.length, 4);
    assert.ok(trend.every((v, i) => i === 0 || v > trend[i - 1]!), `RSS rises: ${trend}`);
    const growth = await rx.waitFor(() => rx.metrics().find((m) => m.name === 'memwatcher.growth' && m.points.some((p) => p.attributes['process.pid'] === leak.pid && (p.value ?? 0) > 1 << 20)), 10_000);
    assert.equal(growth.unit, 'By');
    assert.equal(growth.monotonic, true);
    assert.ok(growth.points.some((p) => p.attributes['process.pid'] === leak.pid && p.attributes['process.executable.name'] === 'gleak' && p.attributes['memwatcher.growth.stack_id'] === undefined), 'a per-process series');

    const lines = growthLines(cli.stdout());
    assert.ok(!lines.some((l) => l.pid === churn.pid && l.suspect), `the churn program is never a suspect:\n${cli.stdout()}`);
    assert.ok(!rx.spans().some((s) => s.name === 'memory.growth' && s.attributes['process.pid'] === churn.pid));
    await stop(cli);
  } finally {
    if (cli && cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await rx.close();
  }
});

// A container is a cgroup named by its runtime (docker's cgroupfs driver: /docker/<id>) and its
// own namespaces; the runtime itself is not needed to check the attribution.
const MEMORY_CGROUP = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
test('a process in a container\'s cgroup and its own mount namespace is attributed to the container id', { skip: !existsSync(`${MEMORY_CGROUP}/cgroup.procs`) && 'no writable memory cgroup hierarchy' }, async () => {
  const id = createHash('sha256').update(`mw-growth-${process.pid}`).digest('hex');
  const parent = `${MEMORY_CGROUP}/mw-growth-${process.pid}`;
  const dirs = [parent, `${parent}/docker`, `${parent}/docker/${id}`];
  for (const d of dirs) mkdirSync(d);
  const rx = await startOtlpReceiver();
  let cli: CliRun | undefined;
  const leak = spawn('sh', ['-c', `echo $$ > ${dirs[2]}/cgroup.procs && exec unshare -m ${join(dir, 'gleak')}`], { stdio: 'ignore' });
  children.push(leak);
  try {
    cli = startCli(['-g', '--growth-comm', 'gleak', '--interval', '1', '--exporter', 'otlp'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    const point = await rx.waitFor(() => rx.metrics().filter((m) => m.name === 'memwatcher.growth').flatMap((m) => m.points).find((p) => p.attributes['process.pid'] === leak.pid), 15_000);
    assert.equal(point.attributes['container.id'], id);
    assert.equal(point.attributes['process.executable.name'], 'gleak');
    await stop(cli);
  } finally {
    if (cli && cli.child.exitCode === null) cli.child.kill('SIGKILL');
    if (leak.exitCode === null && leak.signalCode === null) {
      const gone = new Promise((r) => leak.once('exit', r));
      leak.kill('SIGKILL');
      await gone;
    }
    await rx.close();
    for (const d of dirs.reverse()) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100)); // the killed process still charged
        }
      }
    }
  }
});

test('Debian\'s redis-server filling up: growth through readQueryFromClient, within 10% of its anonymous RSS increase', { skip: (!existsSync(REDIS) || !existsSync(BENCH)) && 'apt-get install redis-server redis-tools' }, async (t) => {
  const port = await freePort();
  const redis = spawn(REDIS, ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(redis);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not get ready: ${out}`)), scaled(10_000));
    redis.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  redis.stdout!.resume();
  const pprof = join(dir, 'growth.pb.gz');
  // Anonymous RSS: the code pages a new path faults in (file RSS, megabytes on redis's first
  // SETs) are not memory the process grew by.
  const rss = () => Number(/^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${redis.pid}/status`, 'latin1'))![1]) * 1024;
  const cli = startCli(['-g', '--growth-pid', String(redis.pid), '--interval', '1', '--growth-pprof', pprof]);
  try {
    await cli.waitForOutput(/growth: attached/, 15_000);
    const before = rss();
    // Fresh keys (-r: a random key space far larger than the requests) of 200-byte values.
    execFileSync(BENCH, ['-p', String(port), '-t', 'set', '-r', '100000000', '-n', '300000', '-d', '200', '-P', '16', '-q'], { stdio: 'ignore', timeout: scaled(120_000) });
    const grown = rss() - before;
    await new Promise((r) => setTimeout(r, scaled(2500)));
    await stop(cli);
    const lines = growthLines(cli.stdout()).filter((l) => l.pid === redis.pid);
    const total = lines.reduce((s, l) => s + l.kb * 1024, 0);
    t.diagnostic(`growth ${total} bytes, anonymous RSS increase ${grown} bytes (${((total / grown - 1) * 100).toFixed(1)}%)`);
    assert.ok(grown > 32 << 20, `redis grew ${grown} bytes`);
    assert.ok(Math.abs(total - grown) <= grown * 0.1, `growth ${total} bytes vs anonymous RSS increase ${grown}:\n${cli.stdout()}`);
    const profile = gunzipSync(readFileSync(pprof)).toString('latin1');
    assert.match(profile, /readQueryFromClient/);
    assert.match(profile, /_sdsnewlen|createStringObject|dictAddRaw/);
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    redis.kill('SIGKILL');
  }
});
