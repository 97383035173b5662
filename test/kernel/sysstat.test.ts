// sysstat on the real kernel: it attaches with a strategy this kernel allows, and every field
// equals what /proc/meminfo says (summed over nodes), read around the same moment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sysstatProbe, SYSSTAT_FIELDS, type SysstatField, type SysstatRecord } from '../../src/probes/sysstat/definition.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import { startProbe } from '../helpers/probe-harness.ts';
import { readKbFile } from '../helpers/proc.ts';

const MEMINFO: Record<SysstatField, string> = {
  active: 'Active', inactive: 'Inactive', active_anon: 'Active(anon)', inactive_anon: 'Inactive(anon)',
  active_file: 'Active(file)', inactive_file: 'Inactive(file)', unevictable: 'Unevictable', dirty: 'Dirty',
  writeback: 'Writeback', anon_pages: 'AnonPages', mapped: 'Mapped', shmem: 'Shmem', kreclaimable: 'KReclaimable',
  slab: 'Slab', sreclaimable: 'SReclaimable', sunreclaim: 'SUnreclaim', nfs_unstable: 'NFS_Unstable',
  writeback_tmp: 'WritebackTmp', anon_huge_pages: 'AnonHugePages', shmem_huge_pages: 'ShmemHugePages',
};

const forced = process.env.MEMWATCHER_PROBES_SYSSTAT_STRATEGY;

test('sysstat attaches and reports the strategy it chose', () => {
  const h = startProbe(sysstatProbe, forced ? { MEMWATCHER_PROBES_SYSSTAT_STRATEGY: forced } : {});
  try {
    assert.ok(h.status.strategy, `sysstat did not attach: ${JSON.stringify(h.status.refused)}`);
    if (forced) assert.equal(h.status.strategy, forced);
    else assert.equal(h.status.strategy, 'uprobe', `the self-triggered strategy works on every kernel with uprobes: ${JSON.stringify(h.status.refused)}`);
  } finally {
    h.stop();
  }
});

test('every sysstat field equals /proc/meminfo within 1% (or a few pages for small counters)', async () => {
  const kernel = readKernelInfo();
  const h = startProbe(sysstatProbe, forced ? { MEMWATCHER_PROBES_SYSSTAT_STRATEGY: forced } : {});
  const page = kernel.pageSize;
  // A busy host moves counters between two reads; retry and keep the best agreement per field.
  const tolerance = (expected: number) => Math.max(expected * 0.01, 64 * page);
  const pending = new Set<SysstatField>(SYSSTAT_FIELDS);
  const misses = new Map<SysstatField, string>();
  try {
    for (let attempt = 0; attempt < 20 && pending.size > 0; attempt++) {
      await new Promise((r) => setTimeout(r, 150));
      const before = readKbFile('/proc/meminfo');
      h.poll();
      const latest = new Map<number, SysstatRecord>();
      for (const r of h.records) latest.set(r.node, r);
      const after = readKbFile('/proc/meminfo');
      assert.ok(latest.size > 0, 'no sysstat record arrived');
      assert.equal(latest.size, kernel.numaNodes.length, 'one record per NUMA node');
      for (const field of [...pending]) {
        const key = MEMINFO[field];
        const values = [...latest.values()].map((r) => r.bytes[field]);
        if (values.some((v) => v === undefined)) {
          // A counter this kernel lacks must be absent, never a made-up zero; /proc/meminfo
          // prints such fields as 0 or not at all.
          assert.ok(!(key in before) || before[key] === 0, `${field} absent from the probe but ${key} is ${before[key]} in /proc/meminfo`);
          pending.delete(field);
          continue;
        }
        const got = values.reduce<number>((a, v) => a + v!, 0);
        const lo = Math.min(before[key]!, after[key]!);
        const hi = Math.max(before[key]!, after[key]!);
        if (got >= lo - tolerance(lo) && got <= hi + tolerance(hi)) pending.delete(field);
        else misses.set(field, `${field}: probe ${got / 1024} kB, /proc/meminfo ${key} ${lo / 1024}..${hi / 1024} kB`);
      }
    }
    assert.deepEqual([...pending].map((f) => misses.get(f)), [], 'fields that never agreed with /proc/meminfo');
  } finally {
    h.stop();
  }
});

test('sysstat sends only changes, at most once per interval (in-kernel change detection)', async () => {
  const h = startProbe(sysstatProbe, { MEMWATCHER_INTERVAL: '0.1', ...(forced ? { MEMWATCHER_PROBES_SYSSTAT_STRATEGY: forced } : {}) });
  try {
    await h.waitFor(() => true);
    await new Promise((r) => setTimeout(r, 1500));
    h.poll();
    const byNode = new Map<number, SysstatRecord[]>();
    for (const r of h.records) byNode.set(r.node, [...(byNode.get(r.node) ?? []), r]);
    for (const [node, recs] of byNode) {
      for (let i = 1; i < recs.length; i++) {
        const a = recs[i - 1]!;
        const b = recs[i]!;
        assert.ok(SYSSTAT_FIELDS.some((f) => a.bytes[f] !== b.bytes[f]), `node ${node}: two consecutive records with the same values`);
        // Samples are rate-limited per interval (the limit is shared by CPUs, racily: allow 20%).
        assert.ok(b.tsNs - a.tsNs >= 80_000_000n, `node ${node}: records ${(b.tsNs - a.tsNs) / 1000n} us apart at a 100 ms interval`);
      }
    }
    assert.equal(h.counters().dropped, 0);
  } finally {
    h.stop();
  }
});
