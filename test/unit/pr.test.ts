// pr without the kernel: decoders on records captured from it, the console table, and the
// metrics as an OTel reader collects them.
//
// Fixtures, captured on kernel 6.18 (2 CPUs, tp_btf strategy) while dd ran in a memory cgroup
// limited to 32 MiB, first reading a 64 MiB sparse file (pinned to CPU 0), then writing 96 MiB:
// - pr-totals.bin: one lookup of the per-CPU `totals` map (2 x struct pr_totals); /proc/vmstat
//   moved by pgscan_anon+pgscan_file 153631 and pgsteal_anon+pgsteal_file 42271 meanwhile;
// - pr-stall-memcg.bin: one struct pr_stall_event of that dd (pid 28439), as in the ring buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataPointType, MeterProvider, MetricReader, type HistogramMetricData, type MetricData } from '@opentelemetry/sdk-metrics';
import { prConsole } from '../../src/probes/pr/console.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/log.ts';
import { DecodeError } from '../../src/runtime/record.ts';
import { decodePrStall, decodePrTotals, PR_STALL_RECORD_SIZE, PR_TOTALS_SIZE, prProbe, visibility, type PrCounters, type PrStallRecord, type PrTotalsRecord, type PrRecord } from '../../src/probes/pr/definition.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import { prMetrics, STALL_BUCKETS_S } from '../../src/probes/pr/metrics.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');
const fixture = (name: string) => readFileSync(join(FIXTURES, name));
const TP_BTF = { unqueuedDirty: true, nrToReclaim: false };

test('a stall record decodes to the call it describes', () => {
  const buf = fixture('pr-stall-memcg.bin');
  assert.equal(buf.length, PR_STALL_RECORD_SIZE);
  const r = decodePrStall(buf);
  assert.equal(r.kind, 'stall');
  assert.equal(r.source, 'memcg');
  assert.equal(r.tid, 28439);
  assert.equal(r.comm, 'dd');
  assert.equal(r.order, 0);
  assert.equal(r.durationNs, 0x44f259);
  assert.equal(r.nrReclaimed, 916);
  assert.equal(r.gfp, 0x112c4a);
  assert.equal(r.tsNs, 0x108864698aan);
});

test('a stall record of another layout, type or source is rejected, not misread', () => {
  const buf = fixture('pr-stall-memcg.bin');
  assert.throws(() => decodePrStall(buf.subarray(0, 64)), DecodeError);
  const longer = Buffer.concat([buf, Buffer.alloc(8)]);
  longer.writeUInt16LE(80, 2);
  assert.throws(() => decodePrStall(longer), /this reader expects 72/);
  const otherType = Buffer.from(buf);
  otherType.writeUInt16LE(1, 0);
  assert.throws(() => decodePrStall(otherType), /record type 1/);
  const kswapd = Buffer.from(buf);
  kswapd.writeUInt32LE(0, 16);
  assert.throws(() => decodePrStall(kswapd), /expected direct or memcg/);
});

test('the totals sum every CPU and match what /proc/vmstat counted', () => {
  const buf = fixture('pr-totals.bin');
  assert.equal(buf.length, 2 * PR_TOTALS_SIZE);
  const all = decodePrTotals(buf, TP_BTF);
  assert.equal(all.sources.memcg.scanned, 153631);
  assert.equal(all.sources.memcg.reclaimed, 42271);
  assert.equal(all.sources.memcg.callReclaimed, 42271);
  assert.ok(all.sources.memcg.unqueuedDirty! > 0, 'writing in the cgroup met dirty pages');
  assert.ok(all.sources.memcg.activated > 0);
  for (const s of ['kswapd', 'direct'] as const) {
    assert.equal(all.sources[s].passes, 0);
    assert.equal(all.sources[s].scanned, 0);
  }
  const cpu0 = decodePrTotals(buf.subarray(0, PR_TOTALS_SIZE), TP_BTF);
  assert.ok(cpu0.sources.memcg.scanned > 0 && cpu0.sources.memcg.scanned < all.sources.memcg.scanned, 'the second CPU adds its share');
});

test('counters a strategy cannot see are absent, not zero', () => {
  const buf = fixture('pr-totals.bin');
  const tp = decodePrTotals(buf, { unqueuedDirty: false, nrToReclaim: false });
  assert.equal(tp.sources.memcg.unqueuedDirty, undefined);
  assert.equal(tp.sources.memcg.nrToReclaim, undefined);
  assert.equal(tp.sources.memcg.folioLists, undefined);
  const kp = decodePrTotals(buf, { unqueuedDirty: false, nrToReclaim: true });
  assert.equal(kp.sources.memcg.nrToReclaim, 0);
  assert.throws(() => decodePrTotals(buf.subarray(0, 100), TP_BTF), /not a multiple of 312/);
});

test('what each strategy can see follows from its programs', () => {
  const programs = (i: number) => prProbe.strategies[i]!.programs.map((p) => p.program);
  assert.deepEqual(prProbe.strategies.map((s) => s.name), ['tp_btf', 'tracepoint', 'fentry', 'fentry', 'kprobe']);
  assert.deepEqual(visibility(programs(0)), { unqueuedDirty: true, nrToReclaim: false });
  assert.deepEqual(visibility(programs(1)), { unqueuedDirty: false, nrToReclaim: false });
  assert.deepEqual(visibility(programs(2)), { unqueuedDirty: true, nrToReclaim: true });
  assert.deepEqual(visibility(programs(3)), { unqueuedDirty: true, nrToReclaim: true });
  assert.deepEqual(visibility(programs(4)), { unqueuedDirty: false, nrToReclaim: true });
  assert.deepEqual(prProbe.strategies[4]!.programs[0]!.functions, ['shrink_folio_list', 'shrink_page_list']);
});

function counters(over: Partial<PrCounters> = {}): PrCounters {
  return {
    passes: 0, scanned: 0, reclaimed: 0, unqueuedDirty: 0, congested: 0, writeback: 0, immediate: 0, activated: 0,
    folioLists: undefined, nrToReclaim: undefined, calls: 0, callReclaimed: 0, stallNs: 0, ...over,
  };
}
function totals(src: Partial<Record<'kswapd' | 'direct' | 'memcg', Partial<PrCounters>>>): PrTotalsRecord {
  return { kind: 'totals', lruGen: false, sources: { kswapd: counters(src.kswapd), direct: counters(src.direct), memcg: counters(src.memcg) } };
}
function stall(source: 'direct' | 'memcg', durationNs: number): PrStallRecord {
  return { kind: 'stall', tsNs: 0n, source, tid: 1, comm: 'dd', durationNs, nrReclaimed: 32, gfp: 0, order: 0 };
}

test('console: the original tool\'s columns, one row per active source, deltas per interval, - where unseen', () => {
  const lines: string[] = [];
  const c = prConsole((l) => lines.push(l), '');
  c.start!();
  c.onRecord(totals({}));
  c.afterPoll!();
  assert.equal(lines.length, 1, 'nothing happened: header only');
  const header = lines[0]!.trim().split(/\s+/);
  assert.deepEqual(header.slice(2, 7), ['RECLAIM', 'RECLAIMED', 'UNQUEUE', 'CONGESTED', 'WRITEBACK']);
  assert.deepEqual([header[0], header[1]], ['SOURCE', 'SCANNED']);

  c.onRecord(stall('memcg', 1_500_000));
  c.onRecord(stall('memcg', 2_500_000));
  c.onRecord(totals({
    kswapd: { passes: 3, scanned: 96, reclaimed: 90, writeback: 2 },
    memcg: { passes: 10, scanned: 320, reclaimed: 300, unqueuedDirty: 5, congested: 1, writeback: 4, calls: 2, stallNs: 4_000_000 },
  }));
  c.afterPoll!();
  c.afterPoll!(); // no new totals: no row
  c.onRecord(totals({
    kswapd: { passes: 3, scanned: 96, reclaimed: 90, writeback: 2 },
    memcg: { passes: 11, scanned: 352, reclaimed: 330, unqueuedDirty: 5, congested: 1, writeback: 4, calls: 3, stallNs: 4_500_000 },
  }));
  c.afterPoll!();
  const rows = lines.slice(1).map((l) => l.trim().split(/\s+/));
  assert.deepEqual(rows, [
    ['kswapd', '96', '-', '90', '0', '0', '2', '-', '-', '-'],
    ['memcg', '320', '-', '300', '5', '1', '4', '2', '4.00', '2.50'],
    ['memcg', '32', '-', '30', '0', '0', '0', '1', '0.50', '-'],
  ]);
});

test('console: RECLAIM is the nr_to_reclaim sum where a shrink_folio_list hook sees it', () => {
  const lines: string[] = [];
  const c = prConsole((l) => lines.push(l), 'pr       ');
  c.onRecord(totals({ direct: { passes: 2, scanned: 64, reclaimed: 60, folioLists: 2, nrToReclaim: 64, unqueuedDirty: undefined, calls: 1, stallNs: 12_000 } }));
  c.afterPoll!();
  assert.ok(lines.every((l) => l.startsWith('pr       ')));
  assert.deepEqual(lines[1]!.trim().split(/\s+/), ['pr', 'direct', '64', '64', '60', '-', '0', '0', '1', '0.01', '-']);
});

class CollectingReader extends MetricReader {
  protected onShutdown(): Promise<void> { return Promise.resolve(); }
  protected onForceFlush(): Promise<void> { return Promise.resolve(); }
}

async function collect(feed: (h: (r: PrRecord) => void) => void): Promise<Map<string, MetricData>> {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  const { config } = loadConfig({ env: {} });
  const handle = prMetrics({ meter: provider.getMeter('test'), config: config.probes.pr, log: silentLogger, kernel: readKernelInfo() });
  feed((r) => handle.onRecord(r));
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
}

test('metrics: cumulative page counters per reclaim source; dirty absent where unseen', async () => {
  const m = await collect((h) => {
    h(totals({ kswapd: { scanned: 5 } }));
    h(totals({ kswapd: { scanned: 100, reclaimed: 90, activated: 7, unqueuedDirty: undefined }, memcg: { scanned: 64, reclaimed: 60, unqueuedDirty: undefined, callReclaimed: 61 } }));
  });
  const points = (name: string) => Object.fromEntries((m.get(name)?.dataPoints ?? []).map((p) => [p.attributes['memwatcher.reclaim.source'], p.value]));
  assert.equal(m.get('memwatcher.reclaim.scanned')!.dataPointType, DataPointType.SUM);
  assert.equal(m.get('memwatcher.reclaim.scanned')!.descriptor.unit, '{page}');
  assert.deepEqual(points('memwatcher.reclaim.scanned'), { kswapd: 100, direct: 0, memcg: 64 });
  assert.deepEqual(points('memwatcher.reclaim.reclaimed'), { kswapd: 90, direct: 0, memcg: 60 });
  assert.deepEqual(points('memwatcher.reclaim.activated'), { kswapd: 7, direct: 0, memcg: 0 });
  assert.deepEqual(points('memwatcher.reclaim.dirty'), { direct: 0 }, 'only the source whose record carries it');
  assert.deepEqual(points('memwatcher.reclaim.stall.reclaimed'), { direct: 0, memcg: 61 });
  for (const n of ['congested', 'writeback', 'immediate']) assert.ok(m.has(`memwatcher.reclaim.${n}`));
});

test('metrics: each stall lands in its bucket of the 10 us .. 10 s histogram, in seconds', async () => {
  const m = await collect((h) => {
    for (const ns of [5_000, 10_000, 30_000, 2_000_000, 2_000_000, 20e9]) h(stall('memcg', ns));
    h(stall('direct', 700_000_000));
  });
  const hist = m.get('memwatcher.reclaim.stall.duration') as HistogramMetricData;
  assert.equal(hist.descriptor.unit, 's');
  const bySource = Object.fromEntries(hist.dataPoints.map((p) => [p.attributes['memwatcher.reclaim.source'], p.value]));
  const memcg = bySource.memcg!;
  assert.deepEqual(memcg.buckets.boundaries, STALL_BUCKETS_S);
  assert.equal(STALL_BUCKETS_S[0], 0.00001);
  assert.equal(STALL_BUCKETS_S.at(-1), 10);
  const countIn = (b: typeof memcg.buckets, upper: number) => b.counts[b.boundaries.indexOf(upper)];
  assert.equal(memcg.count, 6);
  assert.equal(countIn(memcg.buckets, 0.00001), 2, '5 us and 10 us: bucket (0, 10 us]');
  assert.equal(countIn(memcg.buckets, 0.00005), 1, '30 us: (25 us, 50 us]');
  assert.equal(countIn(memcg.buckets, 0.0025), 2, '2 ms: (1 ms, 2.5 ms]');
  assert.equal(memcg.buckets.counts.at(-1), 1, '20 s: above the last boundary');
  assert.ok(Math.abs(memcg.sum! - (20 + 0.004 + 0.000045)) < 1e-9);
  const direct = bySource.direct!;
  assert.equal(direct.count, 1);
  assert.equal(countIn(direct.buckets, 1), 1, '700 ms: (500 ms, 1 s]');
});

test('console: where MGLRU hides the passes, per-pass columns are - and RECLAIMED is what the calls reported', () => {
  const lines: string[] = [];
  const c = prConsole((l) => lines.push(l), '');
  c.onRecord({ ...totals({ memcg: { calls: 4, callReclaimed: 128, stallNs: 2_000_000 }, kswapd: { passes: 1, scanned: 32, reclaimed: 32 } }), lruGen: true });
  c.afterPoll!();
  const rows = lines.slice(1).map((l) => l.trim().split(/\s+/));
  assert.deepEqual(rows, [
    ['kswapd', '32', '-', '32', '0', '0', '0', '-', '-', '-'],
    ['memcg', '-', '-', '128', '-', '-', '-', '4', '2.00', '-'],
  ]);
});
