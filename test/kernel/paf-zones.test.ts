// paf's zone snapshot on the running kernel, against /proc/zoneinfo: the probe reads every zone
// of node 0 through the memcg -> pgdat path, the same reader a failure record uses, and sends it
// periodically without any failure. Watermarks, boost, present, managed and spanned pages must
// equal what zoneinfo shows just before or just after the snapshot; free pages must lie between
// those two readings (give or take 1% of the zone for the moments in between). Each strategy
// this kernel can run is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pafProbe, type PafRecord, type PafZones, type ZoneState } from '../../src/probes/paf/definition.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import { startProbe } from '../helpers/probe-harness.ts';
import { readZoneinfo, type ZoneinfoZone } from '../fixtures/paf-provoke.ts';

const KERNEL = readKernelInfo();
const STRATEGIES = ['uprobe', 'tp_btf', 'tracepoint', ...(KERNEL.kprobes ? ['kprobe'] : [])];
const EXACT = ['min', 'low', 'high', 'boost', 'present', 'managed', 'spanned'] as const;

/** A snapshot taken after `before` was read, and zoneinfo read again right after it arrived. */
async function bracketedSnapshot(h: ReturnType<typeof startProbe<PafRecord>>) {
  const before = readZoneinfo().filter((z) => z.node === 0);
  const t0 = process.hrtime.bigint();
  const snap = (await h.waitFor((r) => r.kind === 'zones' && r.node === 0 && r.tsNs > t0, 10_000)) as PafZones;
  const after = readZoneinfo().filter((z) => z.node === 0);
  return { before, snap, after };
}

function mismatches(z: ZoneState, a: ZoneinfoZone, b: ZoneinfoZone): string[] {
  const out: string[] = [];
  for (const k of EXACT) if (z[k] !== a[k] && z[k] !== b[k]) out.push(`${z.name}.${k}: probe ${z[k]}, zoneinfo ${a[k]} then ${b[k]}`);
  const slack = Math.max(64, Math.ceil(0.01 * Math.max(a.managed, b.managed)));
  const lo = Math.min(a.free, b.free) - slack;
  const hi = Math.max(a.free, b.free) + slack;
  if (z.free < lo || z.free > hi) out.push(`${z.name}.free: probe ${z.free}, zoneinfo ${a.free} then ${b.free} (slack ${slack})`);
  return out;
}

for (const strategy of STRATEGIES) {
  test(`${strategy}: every zone of node 0 as /proc/zoneinfo shows it, sent periodically`, async () => {
    const h = startProbe<PafRecord>(pafProbe, { MEMWATCHER_PROBES_PAF_STRATEGY: strategy, MEMWATCHER_INTERVAL: '0.2' });
    try {
      assert.equal(h.status.strategy, strategy, `paf did not attach with ${strategy}: ${JSON.stringify(h.status.refused)}`);
      let diff: string[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        const { before, snap, after } = await bracketedSnapshot(h);
        assert.deepEqual(snap.zones.map((z) => z.name), before.map((z) => z.name), 'the same zones, empty ones too, in zone order');
        assert.ok(snap.zones.some((z) => z.present > 0 && z.managed > 0 && z.free > 0 && z.min > 0), 'a populated zone with watermarks');
        diff = snap.zones.flatMap((z, i) => mismatches(z, before[i]!, after[i]!));
        if (diff.length === 0) break; // a watermark recalculation between the readings: try again
      }
      assert.deepEqual(diff, []);

      // Live without failures: the next interval brings another snapshot.
      const first = h.records.filter((r) => r.kind === 'zones').at(-1)!.tsNs;
      const next = await h.waitFor((r) => r.kind === 'zones' && r.tsNs > first, 5000);
      assert.ok(next.kind === 'zones' && next.tsNs - first >= 150_000_000n, 'about one interval (0.2 s) apart');
      assert.equal(h.counters().dropped, 0);
    } finally {
      h.stop();
    }
  });
}
