// oom without root: records captured
// from a real memcg OOM kill on 6.18 (test/fixtures/oom-capture.ts) decode to what the kernel's
// own mark_victim printed, the constraint is inferred from the memcg levels at their limits,
// the lead-up ring comes out oldest first, and the pressure files parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DecodeError } from '../../src/runtime/record.ts';
import { parseCgroupMounts } from '../../src/probes/oom/cgroup.ts';
import { findOomMemcg, interpretKill, leadupRetries, nodeState, unlimited, type KillContext } from '../../src/probes/oom/kill.ts';
import { parseMemoryEvents, parseOomControl, parsePsi } from '../../src/probes/oom/pressure.ts';
import { decodeOomEvent, KILL_EVENT, RETRY, type RawKillEvent } from '../../src/probes/oom/record.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');

function records(file: string): Buffer[] {
  const all = readFileSync(join(FIXTURES, file));
  const out: Buffer[] = [];
  for (let off = 0; off < all.length;) {
    const len = all.readUInt32LE(off);
    out.push(all.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

const CTX: KillContext = { pageSize: 4096, memcgVersion: 1, resolvePath: (id) => `/cg-${id}` };

test('6.18 capture: a memcg kill decodes as the kernel printed it, then its mm torn down', () => {
  const recs = records('oom-events-6.18.bin').map(decodeOomEvent);
  const line = readFileSync(join(FIXTURES, 'oom-events-6.18.txt'), 'utf8');
  const m = /pid=(\d+) comm=(\S+) total-vm=(\d+)kB anon-rss=(\d+)kB file-rss:(\d+)kB shmem-rss:(\d+)kB uid=(\d+) pgtables=(\d+)kB/.exec(line)!;
  const kill = recs.find((r) => r.kind === 'kill');
  assert.ok(kill && kill.kind === 'kill');
  const k = interpretKill(kill.raw, CTX);
  assert.equal(k.victim.pid, Number(m[1]));
  assert.equal(k.victim.comm, m[2]);
  assert.equal(k.victim.totalVmBytes! / 1024, Number(m[3]));
  assert.equal(k.victim.rssAnonBytes! / 1024, Number(m[4]));
  assert.equal(k.victim.rssFileBytes! / 1024, Number(m[5]));
  assert.equal(k.victim.rssShmemBytes! / 1024, Number(m[6]));
  assert.equal(k.victim.uid, Number(m[7]));
  assert.equal(Math.round(k.victim.pageTablesBytes! / 1024), Number(m[8]));
  assert.equal(k.trigger.pid, k.victim.pid);
  assert.equal(k.hook, 'tp_btf');
  assert.equal(k.constraint, 'memcg');
  assert.equal(k.memcg?.limitBytes, 48 << 20);
  assert.ok(k.memcg!.usageBytes > (46 << 20));
  assert.equal(k.memcg?.path, `/cg-${k.memcg?.cgroupId}`);
  assert.equal(k.memcg?.oomKills, 1);
  assert.ok(k.node.zones.some((z) => z.name === 'Normal'));
  const phases = recs.flatMap((r) => (r.kind === 'reap' ? [r.raw] : []));
  assert.ok(phases.some((p) => p.phase === 5 && p.victimPid === k.victim.pid && p.killTsNs === k.tsNs), 'exit_mmap of the victim');
});

test('decoding rejects a record of another size or kind', () => {
  const [first] = records('oom-events-6.18.bin');
  assert.throws(() => decodeOomEvent(first!.subarray(0, 100)), DecodeError);
  const odd = Buffer.from(first!);
  odd.writeUInt32LE(9, 16);
  assert.throws(() => decodeOomEvent(odd), /unknown record kind 9/);
});

function killFixture(): RawKillEvent {
  const buf = records('oom-events-6.18.bin').find((b) => b.readUInt32LE(16) === 1)!;
  return KILL_EVENT.read(buf, 0);
}

const MAX = Math.floor(2 ** 63 / 4096) - 1; // PAGE_COUNTER_MAX in pages
const level = (cgroupId: number, usage: number, max = MAX) => ({ cgroupId, usage, max, swapUsage: usage, swapMax: MAX, oomKill: 0 });

test('constraint: the first level at its limit above the trigger, the victim below it; else global', () => {
  const e = killFixture();
  // trigger in /a/b (unlimited), /a limited and full, root; victim in /a/c
  e.triggerMemcg = { depth: 3, _pad: 0, m: [level(30, 1000), level(20, 16383, 16384), level(1, 90000)] };
  e.victimMemcg = { depth: 3, _pad: 0, m: [level(40, 500), level(20, 16383, 16384), level(1, 90000)] };
  assert.equal(findOomMemcg(e, CTX)?.cgroupId, 20);
  const k = interpretKill(e, CTX);
  assert.equal(k.constraint, 'memcg');
  assert.equal(k.memcg?.cgroupId, 20);
  assert.equal(k.victimMemcg?.cgroupId, 40);
  // a limit far from usage: global, and the memcg shown is the victim's own
  e.triggerMemcg.m[1] = level(20, 1000, 16384);
  e.victimMemcg.m[1] = level(20, 1000, 16384);
  const g = interpretKill(e, CTX);
  assert.equal(g.constraint, 'global');
  assert.equal(g.constraintSource, 'no_memcg_at_limit');
  assert.equal(g.memcg?.cgroupId, 40);
  assert.equal(g.topScope, 'host');
  // a limit lowered by another task (the trigger elsewhere): the victim's level at its limit
  e.victimMemcg.m[0] = level(40, 2048, 2048);
  assert.equal(interpretKill(e, CTX).memcg?.cgroupId, 40);
  // v1 memory+swap at its limit also OOMs
  e.victimMemcg.m[0] = { ...level(40, 100, 2048), swapUsage: 4096, swapMax: 4096 };
  assert.equal(interpretKill(e, CTX).constraint, 'memcg');
  assert.equal(interpretKill(e, { ...CTX, memcgVersion: 2 }).constraint, 'global');
  assert.ok(unlimited(MAX, 4096) && !unlimited(16384, 4096));
});

test('oom_control wins when a kprobe or fentry saw it', () => {
  const e = killFixture();
  e.flags |= 4;
  e.ctl = { gfp: 0xcc0, totalpages: 123, chosenPoints: 77, memcgCgroupId: 0, order: 3, constraint: 1 };
  const k = interpretKill(e, { ...CTX, gfpNames: (g) => `gfp ${g}` });
  assert.equal(k.constraint, 'cpuset');
  assert.equal(k.constraintSource, 'oom_control');
  assert.equal(k.order, 3);
  assert.equal(k.orderSource, 'oom_control');
  assert.equal(k.gfpNames, 'gfp 3264');
  assert.equal(k.chosenPoints, 77);
});

test('lead-up: the ring oldest first, the latest retry gives the order', () => {
  const e = killFixture();
  const mk = (i: number) => ({ tsNs: e.hdr.tsNs - BigInt(11 - i) * 1000n, kind: i % 2 ? 2 : 1, order: i, node: 0, zoneIdx: 2, noProgressLoops: i, wmarkCheck: 1, reclaimable: 5, available: 6, minWmark: 7, priority: 1, result: 1, retries: i, maxRetries: 16, shouldRetry: 1, _pad: 0 });
  // 11 retries into a ring of 8: slots hold 8, 9, 10, 3, ..., 7
  const ring = Array.from({ length: 8 }, (_, s) => mk(s < 3 ? s + 8 : s));
  const out = leadupRetries(11, ring, ['DMA', 'DMA32', 'Normal']);
  assert.deepEqual(out.map((r) => r.order), [3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(out[0]!.kind, 'compact_retry');
  assert.equal(out[0]!.priority, 'COMPACT_PRIO_SYNC_LIGHT');
  assert.equal(out[1]!.zoneName, 'Normal');
  e.leadup = { total: 11, firstTsNs: 0n, r: ring };
  const k = interpretKill(e, CTX);
  assert.equal(k.leadup.total, 11);
  assert.equal(k.order, 10);
  assert.equal(k.orderSource, 'last_retry');
  assert.deepEqual(leadupRetries(2, ring, []).map((r) => r.order), [8, 9]);
});

test('node: free and available as si_mem_available() would say for the node', () => {
  const z = (name: string, free: number, low: number, high: number) => ({ name, wmarkMin: 0, wmarkLow: low, wmarkHigh: high, boost: 0, free, managed: free * 2, present: free * 2, spanned: free * 2 });
  const n = nodeState({ node: 0, nrZones: 2, fileLru: 1000, slabReclaimable: 100, miscReclaimable: 0, zones: [z('DMA32', 5000, 100, 150), z('Normal', 3000, 200, 250), z('', 0, 0, 0), z('', 0, 0, 0), z('', 0, 0, 0), z('', 0, 0, 0)] }, 4096);
  assert.equal(n.zones.length, 2);
  assert.equal(n.freeBytes, 8000 * 4096);
  // 8000 - 400 + 1000 - min(500, 300) + 100 - min(50, 300)
  assert.equal(n.availableBytes, (8000 - 400 + 1000 - 300 + 100 - 50) * 4096);
});

test('pressure files: PSI totals in seconds, memory.events, v1 oom_control', () => {
  assert.deepEqual(parsePsi('some avg10=0.00 avg60=0.00 avg300=0.00 total=56898\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=15180\n'), { someSeconds: 0.056898, fullSeconds: 0.01518 });
  assert.deepEqual(parsePsi('some avg10=1.00 avg60=0.00 avg300=0.00 total=2000000\n'), { someSeconds: 2 });
  assert.equal(parsePsi(''), undefined);
  assert.deepEqual(parseMemoryEvents('low 0\nhigh 12\nmax 40\noom 2\noom_kill 1\noom_group_kill 0\n'), { low: 0, high: 12, max: 40, oom: 2, oom_kill: 1, oom_group_kill: 0 });
  assert.deepEqual(parseOomControl('oom_kill_disable 0\nunder_oom 1\noom_kill 3\n'), { underOom: true, oomKill: 3 });
});

test('cgroup mounts: v1 memory hierarchy and the unified one', () => {
  const info = [
    '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw',
    '35 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory',
    '36 25 0:32 / /sys/fs/cgroup/cpu rw,relatime shared:11 - cgroup cgroup rw,cpu',
  ].join('\n');
  assert.deepEqual(parseCgroupMounts(info, () => 'cpu io'), { memoryV1: '/sys/fs/cgroup/memory', unified: '/sys/fs/cgroup/unified', unifiedHasMemory: false });
  assert.deepEqual(parseCgroupMounts('29 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate', () => 'cpuset cpu io memory pids\n'), { unified: '/sys/fs/cgroup', unifiedHasMemory: true });
});
