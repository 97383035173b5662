// Fault injection on the kernel side and around the process: event storms beyond what the
// reader drains, undecodable records, a hook the kernel refuses, a second instance on the same
// host, and a reader of stdout that goes away. Nothing crashes; every loss is counted per probe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfObject } from '../../src/libbpf/object.ts';
import { routeLibbpfLog } from '../../src/libbpf/log.ts';
import { createLogger } from '../../src/log.ts';
import { decodeSysstat } from '../../src/probes/sysstat/definition.ts';
import { RingBufferSource } from '../../src/runtime/ringbuf-source.ts';
import { BPF_OBJECT_DIR } from '../../src/runtime/attach.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import { startOtlpReceiver, type OtlpMetric } from '../../harness/otlp-receiver.ts';
import { BIN, bpfObjectsOf, loadedLinks, loadedProgramIds, runCli, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/prometheus.ts';
import { scaled } from '../../harness/time-scale.ts';

const quiet = createLogger({ verbose: false, write: () => {} });
routeLibbpfLog(quiet);

/** The selftest object (bpf/selftest.bpf.c): one 32-byte record per getppid(2) of ours, into a 4 KiB ring. */
function openSelftest(): BpfObject {
  const obj = BpfObject.open(join(BPF_OBJECT_DIR, 'selftest.bpf.o'));
  obj.program('selftest_missing').setAutoload(false);
  obj.setRodata({ target_tgid: process.pid, magic: 7n });
  obj.load();
  obj.program('selftest_getppid').attach();
  return obj;
}

function storm(n: number): void {
  for (let i = 0; i < n; i++) void process.ppid; // each read is a getppid(2)
}

test('ring buffer overflow: a storm far beyond the ring is counted record for record, and reading goes on', () => {
  const obj = openSelftest();
  try {
    let records = 0;
    const source = new RingBufferSource(obj, 'events', (buf) => { assert.equal(buf.readUInt16LE(0), 99); records++; }, quiet, 'selftest');
    const N = 20_000;
    storm(N); // no poll meanwhile: the 4 KiB ring holds about a hundred
    source.poll();
    const c = source.counters();
    assert.equal(obj.readGlobal('.bss', 'hits'), BigInt(N));
    assert.ok(c.dropped > N * 0.9, `most of the storm was lost (${c.dropped})`);
    assert.equal(c.received + c.dropped, N, `received ${c.received} + dropped ${c.dropped} is every event`);
    assert.equal(records, c.received);
    // After the storm the ring has room again: nothing is stuck.
    storm(10);
    source.poll();
    assert.equal(source.counters().received, c.received + 10);
    assert.equal(source.counters().dropped, c.dropped);
    source.stop();
  } finally {
    obj.close();
  }
});

test('records a decoder rejects are counted as dropped at the ring-buffer boundary, logged once, never thrown', () => {
  const obj = openSelftest();
  const lines: string[] = [];
  try {
    const kernel = readKernelInfo();
    // A sysstat decoder on selftest records: every one is the wrong type.
    const wrongType = new RingBufferSource(obj, 'events', (buf) => decodeSysstat(buf, kernel), createLogger({ verbose: false, write: (l) => lines.push(l) }), 'sysstat');
    storm(50);
    assert.doesNotThrow(() => wrongType.poll());
    assert.deepEqual(wrongType.counters(), { received: 0, dropped: 50 });
    assert.equal(lines.length, 1, `one warning for a run of identical failures: ${lines.join(' | ')}`);
    assert.match(lines[0]!, /sysstat: record dropped: sysstat: record type 99, expected 1/);
    wrongType.stop();
  } finally {
    obj.close();
  }
});

test('a decoder bug (any exception, not only DecodeError) costs the record, not the probe', () => {
  const obj = openSelftest();
  try {
    let calls = 0;
    const buggy = new RingBufferSource(obj, 'events', (buf) => { calls++; if (calls % 2 === 0) buf.readUInt32LE(buf.length); }, quiet, 'selftest');
    storm(40);
    buggy.poll();
    assert.deepEqual(buggy.counters(), { received: 20, dropped: 20 });
    buggy.stop();
  } finally {
    obj.close();
  }
});

const STORM_C = `
#include <stdlib.h>
/* argv[1] malloc/free pairs, as fast as the uprobes allow */
int main(int argc, char **argv) {
  unsigned long n = argc > 1 ? strtoul(argv[1], 0, 10) : 40000;
  volatile unsigned long sink = 0;
  for (unsigned long i = 0; i < n; i++) {
    void *p = malloc(32 + (i & 255));
    sink += (unsigned long)p;
    free(p);
  }
  return 0;
}
`;

function compile(name: string, source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mw-faults-'));
  writeFileSync(join(dir, `${name}.c`), source);
  execFileSync('gcc', ['-O1', '-o', join(dir, name), join(dir, `${name}.c`)]);
  return join(dir, name);
}

const point = (metrics: OtlpMetric[], name: string, probe: string) =>
  metrics.filter((m) => m.name === name).flatMap((m) => m.points).filter((p) => p.attributes['memwatcher.probe'] === probe).at(-1)?.value;

test('memleak -t against a malloc storm with the reader stalled: the trace ring overflows, losses are exported as memwatcher.events.dropped and said in the console, the run ends cleanly', async () => {
  const prog = compile('storm', STORM_C);
  const rx = await startOtlpReceiver();
  // 40,000 pairs are 80,000 trace records, four times what the 1 MiB ring holds, however slowly
  // a busy host runs them.
  const cli = startCli(['--memleak-command', `${prog} 40000`, '-t', '--exporter', 'otlp', '--exporter', 'console', '--interval', '0.5'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
  try {
    const [, pid] = await cli.waitForOutput(/memleak: tracing \S*storm \(pid (\d+)\)/);
    const state = () => (existsSync(`/proc/${pid}/stat`) ? /^\d+ \(.*\) (\w)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] : undefined);
    const until = Date.now() + scaled(60_000);
    // Held at its first allocation (state T) until its unwind tables are in; then it runs.
    while (state() === 'T' && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    // The reader keeps up with the storm on its own; stall it (a CPU-starved host) until the
    // storm is done, so the ring overflows.
    cli.child.kill('SIGSTOP');
    while (state() !== undefined && state() !== 'Z' && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    cli.child.kill('SIGCONT');
    const { code } = await cli.exited;
    assert.equal(code, 0, cli.stderr());
    assert.match(cli.stderr(), /memleak: storm \(pid \d+\) exited: final report, uprobes detached/);
    const m = rx.metrics();
    const received = point(m, 'memwatcher.events.received', 'memleak') ?? 0;
    const dropped = point(m, 'memwatcher.events.dropped', 'memleak') ?? 0;
    assert.ok(received > 10_000, `trace events received: ${received}`);
    assert.ok(dropped > 0, `the storm overflowed the ring and the loss is counted (received ${received}, dropped ${dropped})`);
    // The console, not only a metric, tells the reader of the trace that lines are missing.
    const said = [...cli.stdout().matchAll(/^memleak: (\d+) calls not shown since the last report \((\d+) in all\): the trace ring buffer was full/gm)];
    assert.ok(said.length > 0, `the console says calls were lost:\n${cli.stdout().slice(-1500)}`);
    assert.equal(Number(said.at(-1)![2]), dropped, 'the console\'s count is the exported one');
    assert.equal(said.reduce((n, m) => n + Number(m[1]), 0), dropped, 'each loss said once');
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await rx.close();
  }
});

test('the kernel refuses a hook: that probe is skipped with the reason, the others run and say so over OTLP', async () => {
  const rx = await startOtlpReceiver();
  try {
    // kprobes are compiled out of this kernel: forcing sysstat onto them must fail, alone.
    const r = await runCli(['-s', '-p', '--exporter', 'console', '--exporter', 'otlp', '--interval', '0.5', '--duration', '2'], {
      MEMWATCHER_PROBES_SYSSTAT_STRATEGY: 'kprobe',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /sysstat skipped: no attach strategy works on kernel \S+ \(kprobe: .*finish_task_switch.*\)/);
    assert.match(r.stderr, /pr: attached with (tp_btf|tracepoint)/);
    assert.match(r.stdout, /SOURCE\s+SCANNED\s+RECLAIM/, 'pr prints its table');
    assert.doesNotMatch(r.stdout, /ACTIVE\s+INACTVE/, 'no table header for the skipped probe');
    const attached = rx.metrics().filter((m) => m.name === 'memwatcher.probe.attached').flatMap((m) => m.points);
    const sys = attached.filter((p) => p.attributes['memwatcher.probe'] === 'sysstat').at(-1);
    const pr = attached.filter((p) => p.attributes['memwatcher.probe'] === 'pr').at(-1);
    assert.equal(sys?.value, 0);
    assert.equal(sys?.attributes['memwatcher.probe.strategy'], 'none');
    assert.equal(pr?.value, 1);
    assert.match(String(pr?.attributes['memwatcher.probe.strategy']), /^(tp_btf|tracepoint)$/);
  } finally {
    await rx.close();
  }
});

test('every probe refused: exit 1, the reason on stderr, nothing left loaded', async () => {
  const before = loadedProgramIds();
  const r = await runCli(['-s', '--duration', '2'], { MEMWATCHER_PROBES_SYSSTAT_STRATEGY: 'fentry' });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^mem-watcher: no probe could attach on kernel \S+: sysstat: .*EPERM/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const added = [...loadedProgramIds()].filter((id) => !before.has(id));
  assert.ok(added.every((id) => !/sysstat/.test(execFileSync('bpftool', ['prog', 'show', 'id', String(id)], { encoding: 'utf8' }))), 'no sysstat program left loaded');
});

test('a second instance on the same host: both attach their own programs, both print, both serve Prometheus', async () => {
  const ports = [await freePort(), await freePort()];
  const clis = ports.map((port) => startCli(['-s', '--exporter', 'console', '--exporter', 'prometheus', '--interval', '0.5'], {
    MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
    MEMWATCHER_PROMETHEUS_PORT: String(port),
  }));
  try {
    await Promise.all(clis.map((c) => c.waitForOutput(/ACTIVE.*\n\s+\d+/, 15_000)));
    const owned = clis.map((c) => bpfObjectsOf(c.child.pid!));
    for (const o of owned) assert.ok(o.progs.length >= 1 && o.links.length >= 1);
    assert.deepEqual(owned[0]!.progs.filter((id) => owned[1]!.progs.includes(id)), [], 'each has its own programs');
    for (const port of ports) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /memwatcher_system_memory_lru\{/);
    }
    // A third one on a port in use: one line naming the key to change, and the others carry on.
    const third = await runCli(['-s', '--exporter', 'prometheus', '--duration', '1'], { MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1', MEMWATCHER_PROMETHEUS_PORT: String(ports[0]) });
    assert.equal(third.code, 2, third.stderr);
    assert.match(third.stderr.trim(), /^mem-watcher: cannot serve Prometheus metrics on 127\.0\.0\.1:\d+ \(EADDRINUSE\): set prometheus\.port/);
    assert.equal(third.stderr.trim().split('\n').length, 1);
    for (const c of clis) {
      c.child.kill('SIGTERM');
      assert.equal((await c.exited).code, 0, c.stderr());
    }
    // The kernel frees programs once the last fd closes (after an RCU grace period): poll briefly.
    const gone = () => {
      const progs = loadedProgramIds();
      const links = new Set(loadedLinks());
      return owned.every((o) => o.progs.every((id) => !progs.has(id)) && o.links.every((id) => !links.has(id)));
    };
    for (let i = 0; i < 30 && !gone(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(gone(), 'both detached');
  } finally {
    for (const c of clis) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
});

test('the reader of stdout goes away (mem-watcher | head): a clean stop, not an EPIPE crash', async () => {
  const child = spawn(BIN, ['-s', '--interval', '0.2', '--duration', '20'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const pid = child.pid!;
  const owned = bpfObjectsOf(pid);
  child.stdout.destroy(); // like head exiting after its lines
  const t0 = Date.now();
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.ok(Date.now() - t0 < 5000, 'stops promptly');
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Unhandled|\n\s+at /);
  const progs = loadedProgramIds();
  assert.ok(owned.progs.every((id) => !progs.has(id)), 'programs detached');
});
