// oom on the real kernel: a real memcg OOM kill, safely (RECIPES: a memory cgroup, v1 here and
// cgroup2 where v1 has no memcg, limited to 64 MiB, and a process in it touching 256 MiB in
// 1 MiB steps, reporting each step).
// The record must name the allocating process as victim and trigger, say memcg with the
// cgroup's path, limit and usage at the moment, the victim's anon RSS as the kernel's own
// mark_victim printed it (a private tracefs instance) and as the process touched it, the
// memcg's oom_kill counter after the kill (memory.oom_control, v2: memory.events), no record lost, and when its
// memory came back. Every strategy this kernel offers is run, each forced through loadProbe
// (src/runtime/attach.ts); MEMWATCHER_PROBES_OOM_STRATEGY narrows them, the way the kernel
// matrix forces one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmdirSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { loadConfigFrom } from '../../src/config/load.ts';
import { OOM_CONFIG } from '../../src/probes/oom/config.ts';
import { routeLibbpfLog } from '../../src/libbpf/log.ts';
import { createLogger } from '../../src/log.ts';
import { loadProbe } from '../../src/runtime/attach.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import type { ProbeContext, ProbeDefinition, ProbeSource } from '../../src/runtime/probe.ts';
import { oomProbe, OOM_STRATEGIES } from '../../src/probes/oom/definition.ts';
import type { OomKill, OomPressure, OomRecord } from '../../src/probes/oom/record.ts';
import { MEM, memcg, MOUNTS } from '../helpers/memcg.ts';
import { scaled } from '../../harness/time-scale.ts';

const KERNEL = readKernelInfo();
const MiB = 1024 * 1024;
const LIMIT = 64 * MiB;
const forced = process.env.MEMWATCHER_PROBES_OOM_STRATEGY;
const STRATEGIES = OOM_STRATEGIES.map((s) => s.name).filter((s) => !forced || forced === 'auto' || s === forced);
const skip = process.getuid?.() !== 0 ? 'needs root' : !MEM ? 'needs a memory cgroup controller (v1, or cgroup2 with memory)' : false;

interface OomRun {
  records: OomRecord[];
  source: ProbeSource;
  strategy: string;
  skipped: Array<{ program: string; reason: string }>;
  poll(): void;
  waitFor<T extends OomRecord>(pred: (r: OomRecord) => r is T, timeoutMs: number): Promise<T>;
  stop(): void;
}

/** The probe with a forced strategy, through the one attach loop; undefined when the kernel refuses it. */
function startOom(strategy: string): OomRun | { refused: string } {
  // Its own keys, at their defaults.
  const { config } = loadConfigFrom({ probes: { oom: OOM_CONFIG } }, { env: {}, defaultFile: '/nonexistent' });
  const log = createLogger({ verbose: process.env.MEMWATCHER_TEST_VERBOSE === '1' });
  routeLibbpfLog(log);
  const ctx: ProbeContext<typeof config.probes.oom> = { config: config.probes.oom, interval: 0.2, log, kernel: KERNEL, othersRunning: false };
  const outcome = loadProbe(oomProbe as ProbeDefinition<unknown, unknown>, ctx, strategy);
  if (!outcome.loaded) return { refused: outcome.refused.map((r) => `${r.strategy}: ${r.reason}`).join('; ') };
  const loaded = outcome.loaded;
  const records: OomRecord[] = [];
  const source = oomProbe.start(loaded, ctx, (r) => records.push(r));
  let stopped = false;
  const poll = () => source.poll(Date.now());
  return {
    records,
    source,
    strategy: loaded.strategy.name,
    skipped: loaded.skipped,
    poll,
    async waitFor(pred, timeoutMs) {
      const deadline = Date.now() + scaled(timeoutMs);
      for (;;) {
        poll();
        const hit = records.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no matching oom record within ${scaled(timeoutMs)} ms (${records.length} records)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      source.stop();
      loaded.obj.close();
    },
  };
}

/** JSON for messages: records hold bigint timestamps. */
function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));
}

/** Whether the kernel's own oom_control reached the record (kprobe attached, or fentry). */
function sawOomControl(run: OomRun): boolean {
  return run.strategy === 'fentry' || !run.skipped.some((s) => s.program === 'oom_kill_process_kprobe');
}

/** The memcg's oom_kill count: memory.oom_control (v1) or memory.events (v2). */
function oomKillCount(dir: string): number {
  return Number(/^oom_kill (\d+)/m.exec(readFileSync(`${dir}/${MEM!.version === 1 ? 'memory.oom_control' : 'memory.events'}`, 'utf8'))?.[1]);
}

/** The kernel's own mark_victim lines, from a private tracefs instance. */
function kernelTrace(tag: string) {
  const dir = `${KERNEL.tracefs}/instances/memwatcher-oom-test-${process.pid}-${tag}`;
  mkdirSync(dir);
  writeFileSync(`${dir}/events/oom/mark_victim/enable`, '1');
  return {
    victims(): Array<{ pid: number; comm: string; anonKb: number; fileKb: number; shmemKb: number; uid: number; adj: number }> {
      return readFileSync(`${dir}/trace`, 'utf8').split('\n').flatMap((l) => {
        const m = /mark_victim: pid=(\d+) comm=(\S+) total-vm=\d+kB anon-rss=(\d+)kB file-rss:(\d+)kB shmem-rss:(\d+)kB uid=(\d+) pgtables=\d+kB oom_score_adj=(-?\d+)/.exec(l);
        return m ? [{ pid: Number(m[1]), comm: m[2]!, anonKb: Number(m[3]), fileKb: Number(m[4]), shmemKb: Number(m[5]), uid: Number(m[6]), adj: Number(m[7]) }] : [];
      });
    },
    close() {
      writeFileSync(`${dir}/events/oom/mark_victim/enable`, '0');
      rmdirSync(dir);
    },
  };
}

// Touches 1 MiB at a time and says so after each: the last line before the kill is what it had
// touched. Its own anon RSS before the first step comes first ("base KB").
const TOUCHER = `
import os
def anon_kb():
    for l in open('/proc/self/status'):
        if l.startswith('RssAnon:'):
            return int(l.split()[1])
os.write(1, b'base %d\\n' % anon_kb())
keep = []
for i in range(256):
    b = bytearray(1 << 20)
    b[::4096] = b'\\x01' * 256
    keep.append(b)
    os.write(1, b'%d\\n' % (i + 1))
`;

/** A process in the cgroup holding `mib` MiB touched, protected from the OOM killer; ready when it says so. */
function startBystander(cgroupDir: string, mib: number): Promise<{ pid: number; kill(): Promise<void> }> {
  const script = `import os, sys\nopen('/proc/self/oom_score_adj', 'w').write('-1000')\nb = bytearray(${mib} << 20)\nb[::4096] = b'\\x01' * (len(b) // 4096)\nos.write(1, b'ready\\n')\nsys.stdin.read()\n`;
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `echo $$ > ${cgroupDir}/cgroup.procs && exec /usr/bin/python3 -c "$0"`, script], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.on('error', reject);
    const closed = new Promise<void>((res) => child.on('close', () => res()));
    child.stdout.once('data', () => resolve({ pid: child.pid!, kill: () => (child.kill('SIGKILL'), closed) }));
    child.on('close', (code) => reject(new Error(`bystander exited ${code} before it was ready`)));
  });
}

/** Runs the toucher inside the cgroup; resolves with its pid, exit signal and output. */
function runToucher(cgroupDir: string, script = TOUCHER): Promise<{ pid: number; signal: string | null; code: number | null; baseKb: number; touchedMiB: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `echo $$ > ${cgroupDir}/cgroup.procs && exec /usr/bin/python3 -c "$0"`, script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const base = /^base (\d+)$/m.exec(out);
      const steps = out.split('\n').filter((l) => /^\d+$/.test(l));
      resolve({ pid: child.pid!, signal, code, baseKb: base ? Number(base[1]) : NaN, touchedMiB: steps.length ? Number(steps.at(-1)) : 0 });
    });
  });
}

for (const strategy of STRATEGIES) {
  test(`${strategy}: a real memcg OOM kill, as the kernel reported it`, { skip, timeout: scaled(60_000) }, async (t) => {
    const run = startOom(strategy);
    if ('refused' in run) {
      // fentry on this host: "load refused: EPERM"; kprobes are not built in
      t.skip(`the kernel refuses ${strategy}: ${run.refused}`);
      return;
    }
    const name = `mw-oom-test-${process.pid}-${strategy}`;
    const cg = memcg(name, LIMIT);
    const trace = kernelTrace(strategy);
    let bystander: { pid: number; kill(): Promise<void> } | undefined;
    try {
      assert.equal(run.strategy, strategy);
      const before = oomKillCount(cg.dir);
      // a bystander in the same memcg, holding 8 MiB, never chosen (oom_score_adj -1000): it is
      // still there when the record arrives, so the memcg's top processes name it
      const by = await startBystander(cg.dir, 8);
      bystander = by;
      const child = await runToucher(cg.dir);
      assert.equal(child.signal, 'SIGKILL', `the toucher was killed by the OOM killer (exit ${child.code}, touched ${child.touchedMiB} MiB)`);
      assert.ok(child.touchedMiB > 16 && child.touchedMiB < 64, `touched ${child.touchedMiB} MiB before the kill`);
      const after = oomKillCount(cg.dir);
      assert.equal(after, before + 1, 'memory.oom_control oom_kill moved by one');

      const kill = await run.waitFor((r): r is OomKill => r.kind === 'kill' && r.victim.pid === child.pid, 15_000);
      const k = trace.victims().find((v) => v.pid === child.pid);
      assert.ok(k, 'the kernel traced the same kill');
      t.diagnostic(`touched ${child.touchedMiB} MiB on ${child.baseKb} kB; kernel ${JSON.stringify(k)}`);
      t.diagnostic(`record ${show(kill)}`);

      // who
      assert.equal(kill.victim.pid, child.pid);
      assert.equal(kill.victim.tid, child.pid);
      assert.equal(kill.victim.comm, k.comm);
      assert.equal(kill.trigger.pid, child.pid, 'the allocating process triggered its own kill');
      assert.equal(kill.trigger.comm, 'python3');
      // tracepoint: the victim's task from the SIGKILL just before (tp_btf signal_generate)
      const viaTask = strategy !== 'tracepoint' || !run.skipped.some((s) => s.program === 'oom_victim_signal_btf');
      assert.equal(kill.victim.source, viaTask ? 'task' : 'tracepoint');
      assert.equal(kill.victim.uid, k.uid);
      assert.equal(kill.victim.oomScoreAdj, k.adj);

      // the memcg
      assert.equal(kill.constraint, 'memcg');
      // the kernel's own oom_control where a kprobe or fentry saw it (the guests), else inferred
      assert.equal(kill.constraintSource, sawOomControl(run) ? 'oom_control' : 'memcg_limit');
      if (sawOomControl(run)) assert.ok(kill.gfpNames && kill.order === 0 && kill.totalPages === LIMIT / KERNEL.pageSize, show(kill));
      assert.ok(kill.memcg, 'the OOM memcg');
      assert.equal(kill.memcg.path, cg.rel);
      assert.equal(kill.memcg.limitBytes, LIMIT);
      assert.ok(kill.memcg.usageBytes <= LIMIT && kill.memcg.usageBytes >= LIMIT - 2 * MiB, `usage ${kill.memcg.usageBytes} at the limit`);
      assert.equal(kill.memcg.oomKills, after, 'the kernel counted this kill before mark_victim');
      assert.equal(kill.victimMemcg?.path, cg.rel);

      // the victim's memory: exactly what the kernel's own tracepoint printed, and what it touched
      const anonKb = kill.victim.rssAnonBytes! / 1024;
      assert.equal(anonKb, k.anonKb, 'anon RSS as mark_victim printed it');
      assert.equal(kill.victim.rssFileBytes! / 1024, k.fileKb);
      assert.equal(kill.victim.rssShmemBytes! / 1024, k.shmemKb);
      const touchedKb = child.baseKb + child.touchedMiB * 1024;
      assert.ok(Math.abs(anonKb - touchedKb) <= touchedKb * 0.05, `anon RSS ${anonKb} kB within 5% of the ${touchedKb} kB touched (${child.baseKb} kB before the first step)`);
      assert.ok(kill.victim.totalVmBytes! >= kill.victim.rssAnonBytes!);
      assert.ok(kill.victim.pageTablesBytes! > 0);

      // the node at that moment, the lead-up (none: a memcg charge does not go through the
      // page allocator's slow path), order unknown without oom_control
      assert.ok(kill.node.zones.some((z) => /^(Normal|DMA32)$/.test(z.name) && z.managed > 0), show(kill.node.zones));
      assert.ok(kill.node.freeBytes > 0 && kill.node.availableBytes > 0);
      assert.equal(kill.topScope, 'memcg');
      const top = kill.topProcesses.find((p) => p.pid === by.pid);
      assert.ok(top && top.comm === 'python3' && top.rssBytes >= 8 * MiB, `the bystander among the memcg's top processes: ${JSON.stringify(kill.topProcesses)}`);
      assert.ok(kill.topProcesses.every((p) => p.pid === by.pid || p.pid === child.pid), 'no process from outside the memcg');
      if (!kill.gfp) assert.notEqual(kill.orderSource, 'oom_control');

      // its memory came back: the mm torn down (exit_mmap), the reaper only if it was slow
      assert.ok(kill.reap.reapMs !== undefined, `a reap time, or why not: ${kill.reapNote} ${JSON.stringify(kill.reap)}`);
      assert.ok(kill.reap.reapMs >= 0 && kill.reap.reapMs < 10_000, JSON.stringify(kill.reap));
      // mmap:exit_mmap exists since 6.1 (the maple tree); before, the victim's exit ends it
      const exitMmap = !run.skipped.some((s) => s.program.startsWith('oom_exit_mmap'));
      assert.ok(kill.reap.by === (exitMmap ? 'exit_mmap' : 'exit') || kill.reap.by === 'oom_reaper', show(kill.reap));

      run.poll();
      assert.equal(run.source.counters().dropped, 0, 'no record lost');
      assert.equal(run.records.filter((r) => r.kind === 'kill' && r.victim.pid === child.pid).length, 1, 'one record per kill');
    } finally {
      await bystander?.kill();
      trace.close();
      run.stop();
      cg.remove();
    }
  });
}

// A container runtime names the memcg after the container (/docker/<id>, .../docker-<id>.scope,
// cri-containerd-<id>.scope, ...): the kill and the pressure records carry its container.id,
// read from the path even though the victim is gone by then. The runtime itself is not needed
// to check that: a memcg named the way docker (cgroupfs driver) names one is.
test('a kill in a container\'s memcg names the container, as do its pressure records', { skip, timeout: scaled(60_000) }, async (t) => {
  const run = startOom(forced && forced !== 'auto' ? forced : 'auto');
  if ('refused' in run) {
    t.skip(run.refused);
    return;
  }
  const id = createHash('sha256').update(`mw-oom-${process.pid}`).digest('hex');
  const cg = memcg(`mw-oom-ctr-${process.pid}/${id}`, LIMIT);
  try {
    const child = await runToucher(cg.dir);
    assert.equal(child.signal, 'SIGKILL');
    const kill = await run.waitFor((r): r is OomKill => r.kind === 'kill' && r.victim.pid === child.pid, 15_000);
    assert.equal(kill.memcg?.path, cg.rel);
    assert.equal(kill.victim.container.containerId, id, show(kill.victim));
    assert.equal(kill.trigger.container.containerId, id);
    const p = await run.waitFor((r): r is OomPressure => r.kind === 'pressure' && r.cgroups.some((c) => c.path === cg.rel && (c.events?.oom_kill ?? 0) === 1), 5_000);
    const c = p.cgroups.find((x) => x.path === cg.rel && x.version === MEM!.version)!;
    assert.equal(c.container.containerId, id);
    assert.equal(c.events?.oom_kill, 1);
  } finally {
    run.stop();
    cg.remove();
  }
});

// A global OOM kill exhausts the whole machine: only in the test guest (or where asked for).
const globalSkip = skip || (!process.env.MEMWATCHER_GUEST_KERNEL && process.env.MEMWATCHER_TEST_OOM_GLOBAL !== '1'
  ? `a global OOM kill exhausts this machine's memory: run it in the guest (test/kernels/run --memory 1024 -- node --test test/kernel/oom.test.ts) or set MEMWATCHER_TEST_OOM_GLOBAL=1`
  : false);

// Touches memory until killed, first volunteering as the victim (oom_score_adj 1000).
const GREEDY = TOUCHER.replace('keep = []', "open('/proc/self/oom_score_adj', 'w').write('1000')\nkeep = []").replace('range(256)', 'range(1 << 20)');

for (const strategy of STRATEGIES) {
  test(`${strategy}: a real global OOM kill, with the allocator's retries before it`, { skip: globalSkip, timeout: scaled(120_000) }, async (t) => {
    const run = startOom(strategy);
    if ('refused' in run) {
      t.skip(`the kernel refuses ${strategy}: ${run.refused}`);
      return;
    }
    const trace = kernelTrace(`global-${strategy}`);
    try {
      const child = await runToucher(MEM!.root, GREEDY); // the root memcg: no limit
      assert.equal(child.signal, 'SIGKILL', `killed (exit ${child.code}, touched ${child.touchedMiB} MiB)`);
      const kill = await run.waitFor((r): r is OomKill => r.kind === 'kill' && r.victim.pid === child.pid, 30_000);
      t.diagnostic(`record ${show({ ...kill, node: undefined, leadup: { total: kill.leadup.total, last: kill.leadup.retries.at(-1) } })}`);
      const k = trace.victims().find((v) => v.pid === child.pid);
      assert.ok(k, 'the kernel traced the same kill');
      assert.equal(kill.victim.oomScoreAdj, 1000);
      // Exact when the victim is the trigger (blocked in the killer, as in the memcg test).
      // Here another task may have triggered it, and the victim keeps faulting on the other CPU
      // between the kernel's read and ours: its per-CPU RSS counter folds in batches meanwhile.
      const slack = kill.trigger.pid === child.pid ? 0 : 1024;
      assert.ok(Math.abs(kill.victim.rssAnonBytes! / 1024 - k.anonKb) <= slack, `anon ${kill.victim.rssAnonBytes! / 1024} kB, kernel ${k.anonKb} kB`);
      assert.equal(kill.constraint, 'global');
      const ctl = sawOomControl(run);
      assert.equal(kill.constraintSource, ctl ? 'oom_control' : 'no_memcg_at_limit');
      if (ctl) {
        assert.ok(kill.gfpNames && kill.totalPages! > 0 && kill.chosenPoints! > 0, show(kill));
        assert.equal(kill.order, 0);
      }
      assert.equal(kill.topScope, 'host');
      assert.ok(kill.topProcesses.length > 0 && kill.topProcesses.every((p, i, a) => i === 0 || a[i - 1]!.rssBytes >= p.rssBytes), show(kill.topProcesses));
      if (kill.trigger.pid === child.pid) {
        // the page allocator's slow path retried reclaim before giving up
        assert.ok(kill.leadup.total > 0 && kill.leadup.retries.some((r) => r.kind === 'reclaim_retry_zone' && r.order === 0), show(kill.leadup));
        if (!ctl) assert.equal(kill.orderSource, 'last_retry');
      }
      assert.ok(kill.reap.reapMs !== undefined, `${kill.reapNote} ${show(kill.reap)}`);
    } finally {
      trace.close();
      run.stop();
    }
  });
}

// Statfs types whose holes read as no page cache at all.
const NO_PAGE_CACHE_FOR_HOLES = new Set([0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */, 0x794c7630 /* overlay */, 0x01021997 /* 9p */]);

/** File data the reader brings into page cache (as test/kernel/pr.test.ts does): a fresh sparse
 * file read three times under 32 MiB, where a disk filesystem is writable; in the guest, where
 * every writable place is tmpfs, the node binary (on the host's 9p share) with its cache
 * dropped, under 8 MiB. */
function workloadFile(): { reads: string; dropCache: boolean; path: string; limit: number; cleanup(): void } {
  for (const dir of ['/var/tmp', '/tmp']) {
    let type: number;
    try {
      type = Number(statfsSync(dir).type);
    } catch {
      continue;
    }
    if (NO_PAGE_CACHE_FOR_HOLES.has(type)) continue;
    const path = `${dir}/mw-oom-psi-${process.pid}.dat`;
    const fd = openSync(path, 'w');
    try {
      ftruncateSync(fd, 160 * MiB);
    } finally {
      closeSync(fd);
    }
    return { path, reads: `${path} ${path} ${path}`, dropCache: false, limit: 32 * MiB, cleanup: () => unlinkSync(path) };
  }
  return { path: process.execPath, reads: process.execPath, dropCache: true, limit: 8 * MiB, cleanup() {} };
}

test('memory pressure: a cgroup thrashing its page cache at its limit moves PSI, and is not killed', { skip, timeout: scaled(90_000) }, async (t) => {
  const run = startOom('auto');
  assert.ok(!('refused' in run), 'refused' in run ? run.refused : '');
  const name = `mw-oom-psi-${process.pid}`;
  const work = workloadFile();
  const cg = memcg(name, work.limit);
  // PSI is per cgroup2 cgroup: with v1 memcgs, the reader joins one in the unified hierarchy too
  const v2 = MEM!.version === 1 && MOUNTS.unified ? `${MOUNTS.unified}/${name}` : undefined;
  if (v2) mkdirSync(v2);
  try {
    const first = await run.waitFor((r): r is OomPressure => r.kind === 'pressure', 5_000);
    assert.ok(first.host, '/proc/pressure/memory is read');
    const mine = (p: OomPressure) => p.cgroups.find((c) => c.version === MEM!.version && c.path === cg.rel);
    const c0 = mine(first);
    assert.ok(c0, `the test cgroup is listed: ${first.cgroups.length} cgroups`);
    assert.equal(c0.events?.oom_kill, 0);
    if (MEM!.version === 1) assert.equal(c0.underOom, false);
    const drop = work.dropCache ? `dd if='${work.path}' iflag=nocache count=0 status=none; ` : '';
    const join2 = v2 ? `echo $$ > ${v2}/cgroup.procs && ` : '';
    await new Promise<void>((resolve, reject) => {
      const p = spawn('sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && ${join2}${drop}timeout ${Math.ceil(scaled(12_000) / 1000)} cat ${work.reads} > /dev/null`], { stdio: 'inherit' });
      p.on('close', (code) => (code === 0 || code === 124 ? resolve() : reject(new Error(`reader exited ${code}`))));
    });
    const startTs = Date.now();
    const later = await run.waitFor((r): r is OomPressure => r.kind === 'pressure' && r.tsMs > startTs, 5_000);
    const c1 = mine(later)!;
    t.diagnostic(`host PSI ${JSON.stringify(first.host)} -> ${JSON.stringify(later.host)}; cgroup ${JSON.stringify(c0)} -> ${JSON.stringify(c1)}`);
    assert.ok(later.host!.someSeconds > first.host!.someSeconds, `host PSI some total moved: ${first.host!.someSeconds} -> ${later.host!.someSeconds} s`);
    assert.ok((later.host!.fullSeconds ?? 0) >= (first.host!.fullSeconds ?? 0));
    // the limit was hit: v1 counts it in failcnt, v2 in memory.events max
    if (MEM!.version === 1) assert.ok((c1.failcnt ?? 0) > (c0.failcnt ?? 0), `failcnt ${c0.failcnt} -> ${c1.failcnt}`);
    else assert.ok((c1.events?.max ?? 0) > (c0.events?.max ?? 0), `memory.events max ${c0.events?.max} -> ${c1.events?.max}`);
    assert.equal(c1.events?.oom_kill, 0, 'stalled, not killed');
    if (v2 || MEM!.version === 2) {
      const p2 = later.cgroups.find((c) => c.version === 2 && c.path === cg.rel);
      t.diagnostic(`cgroup v2 ${JSON.stringify(p2)}`);
      assert.ok(p2?.pressure && p2.pressure.someSeconds > 0, `its v2 memory.pressure moved: ${JSON.stringify(p2)}`);
    }
    assert.equal(run.records.filter((r) => r.kind === 'kill').length, 0);
  } finally {
    run.stop();
    try {
      if (MEM!.version === 1) writeFileSync(`${cg.dir}/memory.force_empty`, '0');
    } catch { /* empty already */ }
    cg.remove();
    if (v2) rmdirSync(v2);
    work.cleanup();
  }
});
