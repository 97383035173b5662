// growth's user-space logic on fixtures: the kernel's counters decoded and diffed per interval,
// the leak-suspect rule, and the first frame outside the allocator.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeGrowth, decodeProc, GROWTH_VAL_SIZE } from '../../src/probes/growth/layout.ts';
import { firstCodeFrame, GrowthDiff, SuspectTracker } from '../../src/probes/growth/report.ts';

function entry(tgid: number, stack: number, mapped: number, faulted: number, events = 1): [Buffer, Buffer] {
  const k = Buffer.alloc(8);
  k.writeUInt32LE(tgid, 0);
  k.writeUInt32LE(stack, 4);
  const v = Buffer.alloc(GROWTH_VAL_SIZE);
  v.writeBigUInt64LE(BigInt(mapped), 0);
  v.writeBigUInt64LE(BigInt(faulted), 8);
  v.writeBigUInt64LE(BigInt(events), 16);
  return [k, v];
}

describe('growth layout', () => {
  it('decodes a (process, stack) entry and a process entry', () => {
    const [k, v] = entry(42, 0xdeadbeef, 135168, 131072, 3);
    assert.deepEqual(decodeGrowth(k, v), { tgid: 42, stackId: 0xdeadbeef, mapped: 135168, faulted: 131072, events: 3, truncated: 0 });
    const pk = Buffer.alloc(4);
    pk.writeUInt32LE(7);
    const pv = Buffer.alloc(24);
    pv.writeBigUInt64LE(10n, 0);
    pv.writeBigUInt64LE(20n, 8);
    pv.writeBigUInt64LE(30n, 16);
    assert.deepEqual(decodeProc(pk, pv), { tgid: 7, grown: 10, unmapped: 20, dropped: 30 });
  });
  it('refuses a value of another layout', () => {
    assert.throws(() => decodeGrowth(Buffer.alloc(8), Buffer.alloc(16)), /expected 8\/32/);
  });
});

describe('GrowthDiff', () => {
  it('reports what grew since the last reading, and nothing for a stack that did not', () => {
    const d = new GrowthDiff();
    const read = (...e: Array<[Buffer, Buffer]>) => e.map(([k, v]) => decodeGrowth(k, v));
    assert.equal(d.step(read(entry(1, 5, 100, 4096))).length, 1);
    const second = d.step(read(entry(1, 5, 100, 8192), entry(1, 6, 0, 0), entry(2, 5, 50, 0)));
    assert.deepEqual(second.map((x) => [x.tgid, x.stackId, x.mapped, x.faulted]), [[1, 5, 0, 4096], [2, 5, 50, 0]]);
    assert.equal(d.total(1, 5), 8192);
    assert.equal(d.processTotal(1), 8192);
  });
});

describe('GrowthDiff.retire', () => {
  it('hands back entries idle for N steps once, keeping their bytes in the process total', () => {
    const d = new GrowthDiff();
    const read = (...e: Array<[Buffer, Buffer]>) => e.map(([k, v]) => decodeGrowth(k, v));
    d.step(read(entry(1, 5, 0, 4096), entry(1, 6, 0, 8192)));
    assert.deepEqual(d.retire(2), []);
    d.step(read(entry(1, 5, 0, 4096), entry(1, 6, 0, 12288)));
    d.step(read(entry(1, 5, 0, 4096), entry(1, 6, 0, 16384)));
    assert.deepEqual(d.retire(2).map((c) => c.stackId), [5], 'stack 5 grew last two steps ago');
    assert.deepEqual(d.retire(2), []);
    // The kernel's entry for stack 5 is gone; it grows again from zero.
    const again = d.step(read(entry(1, 5, 0, 4096), entry(1, 6, 0, 16384)));
    assert.deepEqual(again.map((c) => [c.stackId, c.faulted]), [[5, 4096]]);
    assert.equal(d.processTotal(1), 4096 + 4096 + 16384);
  });
});

describe('SuspectTracker', () => {
  it('a process whose RSS rises K intervals in a row under the same lead stack is a suspect', () => {
    const t = new SuspectTracker(3);
    const verdicts = [100, 200, 300, 400].map((rss) => t.observe(9, rss, 77).suspect);
    assert.deepEqual(verdicts, [false, false, false, true]);
    assert.deepEqual(t.observe(9, 500, 77).trend, [200, 300, 400, 500]);
  });
  it('flat RSS (churn), a change of lead stack or an interval without growth is not', () => {
    const flat = new SuspectTracker(2);
    assert.equal([100, 100, 100, 100].map((rss) => flat.observe(1, rss, 5).suspect).some(Boolean), false);
    const moving = new SuspectTracker(2);
    assert.equal([[100, 5], [200, 6], [300, 5], [400, 6]].map(([rss, lead]) => moving.observe(1, rss!, lead).suspect).some(Boolean), false);
    const idle = new SuspectTracker(2);
    idle.observe(1, 100, 5);
    idle.observe(1, 200, 5);
    assert.equal(idle.observe(1, 300, undefined).suspect, false);
    const lost = new SuspectTracker(1);
    lost.observe(1, 100, -1);
    assert.equal(lost.observe(1, 200, -1).suspect, false, 'a lost stack leads nothing');
  });
});

describe('firstCodeFrame', () => {
  it('skips libc, jemalloc and allocator wrappers, inlined ones too', () => {
    const f = firstCodeFrame([
      { address: 1n, module: '/usr/lib/x86_64-linux-gnu/libc.so.6', function: 'brk' },
      { address: 2n, module: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', function: 'je_malloc' },
      { address: 3n, module: '/usr/bin/redis-server', function: 'ztrymalloc_usable', inlined: [{ address: 3n, function: 'zmalloc' }] },
      { address: 4n, module: '/usr/bin/redis-server', function: 'sdsMakeRoomFor', file: 'sds.c', line: 240 },
    ]);
    assert.equal(f?.function, 'sdsMakeRoomFor');
    assert.equal(f?.line, 240);
    assert.equal(firstCodeFrame([{ address: 1n, module: '/lib/libc.so.6', function: 'malloc' }]), undefined);
  });
});
