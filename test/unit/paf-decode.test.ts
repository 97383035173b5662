// paf's decoder on records the BPF program really produced: in the 6.1 test guest while its huge
// page pool was grown until the allocator failed (test/fixtures/paf-events-6.1.json, with the
// kernel's own trace text of the same failures and the kallsyms lines its stacks fall in), and
// a zone snapshot on the 6.18 host with /proc/zoneinfo read right after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DecodeError } from '../../src/runtime/record.ts';
import { GfpDecoder, parseGfpFormat } from '../../src/host/gfp.ts';
import { KernelSymbols } from '../../src/host/kallsyms.ts';
import { decodeCountKey, decodePafEvent, decodeRetry, PAF_FAILURE_RECORD_SIZE, PAF_ZONES_RECORD_SIZE, symbolizeStack, targetZone, type PafFailure, type PafVocabulary, type PafZones, type ZoneState } from '../../src/probes/paf/definition.ts';
import { decodeStack } from '../../src/runtime/record.ts';
import { readZoneinfo } from '../fixtures/paf-provoke.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');
const guest = JSON.parse(readFileSync(join(FIXTURES, 'paf-events-6.1.json'), 'utf8')) as {
  records: string[]; stacks: Record<string, string[]>; kallsyms: string[]; trace: string[];
};
const host = JSON.parse(readFileSync(join(FIXTURES, 'paf-events-6.18.json'), 'utf8')) as { records: string[]; zoneinfo: string };
const vocab = (k: string): PafVocabulary => ({
  gfp: new GfpDecoder({ flags: parseGfpFormat(readFileSync(join(FIXTURES, `paf-format-${k}.txt`), 'utf8')), source: 'tracefs' }),
  migratetypes: ['Unmovable', 'Movable', 'Reclaimable', 'HighAtomic'],
});
const records = guest.records.map((h) => decodePafEvent(Buffer.from(h, 'hex'), vocab('6.1')));
const failures = records.filter((r): r is PafFailure => r.kind === 'failure');

/** `MainThread-135 [001] ..... 53.842028: mm_page_alloc: page=... order=9 migratetype=1 gfp_flags=...` */
function traceEvent(line: string) {
  const m = /^\s*(.+)-(\d+)\s+\[\d+\].*mm_page_alloc: .*order=(\d+) migratetype=(-?\d+) gfp_flags=(\S+)/.exec(line);
  assert.ok(m, line);
  return { comm: m[1]!.trim(), pid: Number(m[2]), order: Number(m[3]), migratetype: Number(m[4]), gfp: m[5]! };
}

test('record sizes match bpf/paf.h (the BPF object asserts the same numbers)', () => {
  assert.equal(PAF_FAILURE_RECORD_SIZE, 512);
  assert.equal(PAF_ZONES_RECORD_SIZE, 464);
  for (const h of guest.records) {
    const b = Buffer.from(h, 'hex');
    assert.equal(b.length, b.readUInt32LE(16) === 1 ? 512 : 464);
  }
});

test('6.1 guest: the huge-page failure decodes as the kernel traced it', () => {
  const f = failures[0]!;
  const k = traceEvent(guest.trace[0]!);
  assert.equal(f.order, k.order);
  assert.equal(f.order, 9);
  assert.equal(f.gfp, 0x346cca);
  assert.equal(f.gfpNames, k.gfp);
  assert.equal(f.migratetype, k.migratetype);
  assert.equal(f.migratetypeName, 'Movable');
  assert.equal(f.comm, k.comm);
  assert.equal(f.tid, k.pid);
  assert.equal(f.pid, k.pid, 'the main thread');
  assert.equal(f.source, 'tracepoint');
  assert.equal(f.node, 0);
  assert.ok(f.stackId >= 0);
  assert.equal(f.stackError, undefined);
});

test('6.1 guest: the failing node\'s zones at the moment of failure, and the zone the allocation wanted', () => {
  const f = failures[0]!;
  assert.deepEqual(f.zones.map((z) => z.name), ['DMA', 'DMA32', 'Normal', 'Movable', 'Device']);
  const dma32 = f.zones[1]!;
  assert.equal(dma32.present, 258016);
  assert.equal(dma32.managed, 241529);
  assert.deepEqual([dma32.min, dma32.low, dma32.high], [11086, 13857, 16628], 'what the guest\'s /proc/zoneinfo showed at boot');
  assert.ok(dma32.free < dma32.high, 'the pool took the zone down to its watermarks');
  assert.equal(f.zones[2]!.present, 0, 'a 1 GiB guest has no Normal zone');
  // GFP_HIGHUSER_MOVABLE wants Movable; Movable and Normal are empty, so DMA32.
  assert.equal(f.zone?.name, 'DMA32');
});

test('6.1 guest: other failures under the same pressure (page cache readahead with __GFP_NORETRY)', () => {
  const kinds = failures.map((f) => `${f.order} ${f.gfpNames}`);
  assert.ok(kinds.includes('0 GFP_NOFS|__GFP_HIGHMEM|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_HARDWALL|__GFP_MOVABLE'), kinds.join('\n'));
  const k = traceEvent(guest.trace[1]!);
  assert.ok(failures.some((f) => f.order === k.order && f.gfpNames === k.gfp && f.comm === k.comm));
  for (const f of failures) assert.equal(f.zone?.name, 'DMA32');
});

test('6.1 guest: the kernel stack, symbolized from kallsyms, starts at the allocator', () => {
  const syms = KernelSymbols.parse(guest.kallsyms.join('\n'));
  const f = failures[0]!;
  const frames = symbolizeStack(decodeStack(stackValue(guest.stacks[String(f.stackId)]!)), syms);
  assert.deepEqual(frames.map((x) => x.symbol), [
    '__alloc_pages+0x256',
    'alloc_buddy_huge_page.isra.0+0x62',
    'alloc_fresh_huge_page+0xc1',
    'alloc_pool_huge_page+0x7a',
    '__nr_hugepages_store_common+0x207',
    'hugetlb_sysctl_handler_common+0xf1',
    'proc_sys_call_handler+0x1bd',
    'vfs_write+0x235',
    'ksys_write+0x6b',
    'do_syscall_64+0x5d',
    'entry_SYSCALL_64_after_hwframe+0x6e',
  ]);
  // Without a symbol table: addresses, untrimmed (nothing tells which frames are tracing ones).
  const raw = symbolizeStack(decodeStack(stackValue(guest.stacks[String(f.stackId)]!)), undefined);
  assert.equal(raw.length, 14);
  assert.match(raw[0]!.symbol, /^0xffffffff[0-9a-f]{8}$/);
});

/** A stack map value as the kernel fills it: u64 addresses, zero-padded to PAF_STACK_DEPTH. */
function stackValue(hexAddrs: string[]): Buffer {
  const b = Buffer.alloc(64 * 8);
  hexAddrs.forEach((a, i) => b.writeBigUInt64LE(BigInt('0x' + a), i * 8));
  return b;
}

test('6.18 host: a periodic zone snapshot equals /proc/zoneinfo read right after it', () => {
  const z = decodePafEvent(Buffer.from(host.records[0]!, 'hex'), vocab('6.18')) as PafZones;
  assert.equal(z.kind, 'zones');
  const info = readZoneinfo(host.zoneinfo).filter((x) => x.node === 0);
  assert.deepEqual(z.zones.map((x) => x.name), info.map((x) => x.name));
  z.zones.forEach((zone, i) => {
    const want = info[i]!;
    for (const k of ['min', 'low', 'high', 'boost', 'present', 'managed', 'spanned'] as const) assert.equal(zone[k], want[k], `${zone.name}.${k}`);
  });
});

test('malformed records are rejected, not misread', () => {
  const good = guest.records.map((h) => Buffer.from(h, 'hex')).find((b) => b.readUInt32LE(16) === 1)!;
  const v = vocab('6.1');
  const wrongType = Buffer.from(good);
  wrongType.writeUInt16LE(1, 0);
  assert.throws(() => decodePafEvent(wrongType, v), DecodeError);
  assert.throws(() => decodePafEvent(good.subarray(0, 300), v), /rebuild/);
  const unknownKind = Buffer.from(good);
  unknownKind.writeUInt32LE(9, 16);
  assert.throws(() => decodePafEvent(unknownKind, v), /kind 9/);
  const noStack = Buffer.from(good);
  noStack.writeInt32LE(-17, 16 + 20);
  const f = decodePafEvent(noStack, v) as PafFailure;
  assert.match(f.stackError!, /EEXIST/);
  const noZones = Buffer.from(good);
  noZones.writeUInt32LE(0, 16 + 56 + 4);
  const nz = decodePafEvent(noZones, v) as PafFailure;
  assert.deepEqual(nz.zones, []);
  assert.equal(nz.zone, undefined);
});

test('target zone: gfp_zone(), then down the zonelist to a zone with managed pages', () => {
  const z = (index: number, name: string, managed: number): ZoneState => ({ node: 0, index, name, min: 0, low: 0, high: 0, boost: 0, free: 0, managed, present: managed, spanned: managed });
  const big = [z(0, 'DMA', 10), z(1, 'DMA32', 20), z(2, 'Normal', 30), z(3, 'Movable', 0), z(4, 'Device', 0)];
  assert.equal(targetZone(0xcc0, big)?.name, 'Normal'); // GFP_KERNEL
  assert.equal(targetZone(0x100cca, big)?.name, 'Normal', 'no Movable zone: Normal');
  assert.equal(targetZone(0xcc4, big)?.name, 'DMA32');
  assert.equal(targetZone(0xcc1, big)?.name, 'DMA');
  assert.equal(targetZone(0x100cc2, big)?.name, 'Normal', '__GFP_HIGHMEM on 64-bit');
  assert.equal(targetZone(0xcc0, [z(0, 'DMA', 0)]), undefined);
});

test('count and retry map entries', () => {
  const key = Buffer.alloc(16);
  key.writeBigUInt64LE(0x346ccan, 0);
  key.writeUInt32LE(9, 8);
  assert.deepEqual(decodeCountKey(key), { gfp: 0x346cca, order: 9 });
  const rk = Buffer.alloc(16);
  rk.writeInt32LE(0, 0);
  rk.writeInt32LE(1, 4);
  rk.writeInt32LE(9, 8);
  const rv = Buffer.alloc(40);
  rv.writeBigUInt64LE(16n, 0);
  rv.writeBigUInt64LE(1000n, 8);
  rv.writeBigUInt64LE(12000n, 16);
  rv.writeBigUInt64LE(11086n, 24);
  rv.writeInt32LE(2, 32);
  rv.writeUInt32LE(1, 36);
  assert.deepEqual(decodeRetry(rk, rv), { node: 0, zoneIndex: 1, order: 9, total: 16, reclaimable: 1000, available: 12000, minWmark: 11086, noProgressLoops: 2, wmarkCheck: true });
});
