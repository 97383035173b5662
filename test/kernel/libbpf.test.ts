// The koffi binding against the real libbpf and kernel: tunables, load, attach, maps (single,
// batched, per-CPU), globals, ring buffer, and errors that carry the operation, errno and
// libbpf's own message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BpfObject } from '../../src/libbpf/object.ts';
import { RingBuffer } from '../../src/libbpf/ringbuf.ts';
import { BpfError, ENOENT } from '../../src/libbpf/errors.ts';
import { nrPossibleCpus } from '../../src/libbpf/map.ts';
import { routeLibbpfLog } from '../../src/libbpf/log.ts';
import { BPF_OBJECT_DIR } from '../../src/runtime/attach.ts';
import { createLogger } from '../../src/log.ts';
import { loadedPrograms } from '../helpers/cli.ts';

routeLibbpfLog(createLogger({ verbose: false, write: () => {} }));
const SELFTEST = join(BPF_OBJECT_DIR, 'selftest.bpf.o');

function openSelftest(magic = 0xfeedn): BpfObject {
  const obj = BpfObject.open(SELFTEST);
  obj.program('selftest_missing').setAutoload(false);
  obj.setRodata({ target_tgid: process.pid, magic });
  obj.load();
  return obj;
}

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); return b; };

test('tunables, attach, ring buffer, globals and per-CPU maps see exactly our events', () => {
  const obj = openSelftest(0xabcdef0123n);
  try {
    obj.program('selftest_getppid').attach();
    const records: Buffer[] = [];
    const rb = new RingBuffer(obj.map('events'), (b) => records.push(b));
    const N = 25;
    for (let i = 0; i < N; i++) void process.ppid; // each read is a getppid(2)
    assert.equal(rb.consume(), N);
    rb.close();
    assert.equal(records.length, N);
    for (const r of records) {
      assert.equal(r.readUInt16LE(0), 99);
      assert.equal(r.readUInt16LE(2), 32);
      assert.equal(r.readBigUInt64LE(16), 0xabcdef0123n, 'rodata tunable reached the program');
      assert.equal(r.readUInt32LE(24), process.pid);
    }
    assert.equal(obj.readGlobal('.bss', 'hits'), BigInt(N));
    assert.equal(obj.readGlobal('.bss', 'events_dropped'), 0n);
    const percpu = obj.map('percpu');
    assert.equal(percpu.perCpu, true);
    const v = percpu.lookup(u32(0))!;
    assert.equal(v.length, 8 * nrPossibleCpus());
    let sum = 0n;
    for (let c = 0; c < nrPossibleCpus(); c++) sum += v.readBigUInt64LE(c * 8);
    assert.equal(sum, BigInt(N));
  } finally {
    obj.close();
  }
});

test('hash map: update, lookup, delete, iterate, batch read and delete', () => {
  const obj = openSelftest();
  try {
    const m = obj.map('counts');
    for (let k = 0; k < 700; k++) m.update(u32(k), u64(BigInt(k) * 3n));
    assert.equal(m.lookup(u32(5))!.readBigUInt64LE(0), 15n);
    assert.equal(m.lookup(u32(5000)), undefined);
    assert.equal([...m.keys()].length, 700);
    const entries = m.entries(128); // several batches
    assert.equal(entries.length, 700);
    for (const [k, v] of entries) assert.equal(v.readBigUInt64LE(0), BigInt(k.readUInt32LE(0)) * 3n);
    assert.equal(new Set(entries.map(([k]) => k.readUInt32LE(0))).size, 700, 'no key twice');
    assert.equal(m.delete(u32(5)), true);
    assert.equal(m.delete(u32(5)), false);
    assert.equal(m.entries().length, 699);
    // Streaming read and batched delete: the odd keys go (5 is gone already: skipped, not fatal).
    const odd: Buffer[] = [];
    m.forEachEntry((k) => {
      if (k.readUInt32LE(0) % 2 === 1) odd.push(Buffer.from(k));
    }, 100);
    assert.equal(odd.length, 349);
    m.deleteMany([u32(5), ...odd], 64);
    const left = m.entries().map(([k]) => k.readUInt32LE(0));
    assert.equal(left.length, 350);
    assert.ok(left.every((k) => k % 2 === 0), 'only even keys left');
  } finally {
    obj.close();
  }
});

test('errors carry the operation, errno and libbpf\'s message', () => {
  assert.throws(() => BpfObject.open('/nonexistent/x.bpf.o'), (e: unknown) => e instanceof BpfError && /open \/nonexistent/.test(e.message) && /build:bpf/.test(e.message));
  const obj = BpfObject.open(SELFTEST);
  try {
    assert.throws(() => obj.setRodata({ no_such_tunable: 1 }), /no tunable no_such_tunable/);
    obj.setRodata({ target_tgid: process.pid });
    obj.load();
    assert.throws(() => obj.setRodata({ target_tgid: 1 }), /before load/);
    assert.throws(() => obj.program('selftest_missing').attach(), (e: unknown) => {
      assert.ok(e instanceof BpfError);
      assert.match(e.op, /attach selftest_missing/);
      assert.equal(e.errno, ENOENT);
      assert.ok(e.libbpfLog.some((l) => /no_such_event|tracepoint/.test(l)), `libbpf's message: ${e.libbpfLog.join(' | ')}`);
      return true;
    });
  } finally {
    obj.close();
  }
});

test('close destroys links and unloads programs', () => {
  const before = new Set(loadedPrograms(['selftest_']).map((p) => p.id));
  const obj = openSelftest();
  obj.program('selftest_getppid').attach();
  const ours = loadedPrograms(['selftest_']).filter((p) => !before.has(p.id));
  assert.equal(ours.length, 1);
  obj.close();
  obj.close(); // idempotent
  const after = new Set(loadedPrograms(['selftest_']).map((p) => p.id));
  assert.ok(!after.has(ours[0]!.id));
});
