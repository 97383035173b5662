// The ring buffer consumers against the real kernel's ring buffer, with records from a real BPF
// program (bpf/bench_drain.bpf.c: N numbered records per getppid() of this process): every
// record delivered once and in order, none lost while the ring has room, wrap-around at the end
// of the data pages, discarded records skipped, failed reserves counted exactly, and the same
// with a producer writing on another CPU while we read. Both consumers must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { routeLibbpfLog } from '../../src/libbpf/log.ts';
import { RingBuffer, type RingBufferConsumer } from '../../src/libbpf/ringbuf.ts';
import { createLogger } from '../../src/log.ts';
import { BENCH_DRAIN_RECORD_SIZE, decodeDrainRecord, openDrainLoad, startProducer, type DrainLoadOptions, type DrainRecord } from '../../harness/drain-load.ts';

routeLibbpfLog(createLogger({ verbose: false, write: () => {} }));

const PAGE = 4096;
/** Bytes one record takes in the ring: 8-byte header + sample, rounded up to 8. */
const SLOT = (BENCH_DRAIN_RECORD_SIZE + 8 + 7) & ~7;

/** getppid() from this process: each is one trigger. */
function trigger(times: number): void {
  for (let i = 0; i < times; i++) void process.ppid;
}

function withRing(consumer: RingBufferConsumer, opts: Omit<DrainLoadOptions, 'tgid'>, body: (ctx: {
  records: DrainRecord[];
  rb: RingBuffer;
  counters: () => { offered: number; dropped: number; discarded: number };
}) => void): void {
  const load = openDrainLoad({ tgid: process.pid, ...opts });
  const records: DrainRecord[] = [];
  const rb = new RingBuffer(load.events, (b) => records.push(decodeDrainRecord(b)), (err) => { throw err; }, { consumer });
  try {
    assert.equal(rb.consumer, consumer, `fell back: ${rb.fallbackReason}`);
    body({ records, rb, counters: load.counters });
    assert.equal(rb.handlerFailures, 0);
  } finally {
    rb.close();
    load.close();
  }
}

function assertSequence(records: DrainRecord[], seqs: number[]): void {
  assert.deepEqual(records.map((r) => r.seq), seqs);
  for (const r of records) {
    assert.equal(r.tgid, process.pid);
    assert.equal(r.value, r.seq * 3, `payload of record ${r.seq}`);
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

for (const consumer of ['mmap', 'libbpf'] as const) {
  test(`${consumer}: every record once, in order, none lost while the ring has room`, () => {
    withRing(consumer, { recordsPerTrigger: 10, ringBytes: 16 * PAGE }, ({ records, rb, counters }) => {
      trigger(50);
      assert.equal(rb.consume(), 500);
      assert.equal(rb.consume(), 0, 'nothing delivered twice');
      trigger(3);
      assert.equal(rb.consume(), 30);
      assertSequence(records, range(0, 530));
      assert.deepEqual(records.slice(0, 10).map((r) => r.index), range(0, 10));
      assert.deepEqual(counters(), { offered: 530, dropped: 0, discarded: 0 });
    });
  });

  test(`${consumer}: wraps around the end of the data pages, records straddling it intact`, () => {
    // One page of data: 4096 is not a multiple of the slot, so records cross the end as the
    // positions go round (the kernel maps the data twice so they read contiguously).
    assert.notEqual(PAGE % SLOT, 0);
    withRing(consumer, { recordsPerTrigger: 50, ringBytes: PAGE }, ({ records, rb, counters }) => {
      let straddled = 0;
      for (let round = 0; round < 40; round++) {
        trigger(1);
        assert.equal(rb.consume(), 50, `round ${round}`);
      }
      for (let k = 0; k < 2000; k++) if ((k * SLOT) % PAGE > PAGE - SLOT) straddled++;
      assert.ok(straddled > 10, `${straddled} records crossed the end of the ring`);
      assert.ok((2000 * SLOT) / PAGE > 20, 'the ring went round many times');
      assertSequence(records, range(0, 2000));
      assert.deepEqual(counters(), { offered: 2000, dropped: 0, discarded: 0 });
    });
  });

  test(`${consumer}: a full ring loses exactly the records whose reserve failed, then recovers`, () => {
    withRing(consumer, { recordsPerTrigger: 200, ringBytes: PAGE }, ({ records, rb, counters }) => {
      trigger(1);
      const fit = Math.floor(PAGE / SLOT); // the kernel refuses a reserve that would pass the consumer
      assert.equal(rb.consume(), fit);
      assertSequence(records, range(0, fit));
      assert.deepEqual(counters(), { offered: 200, dropped: 200 - fit, discarded: 0 });
      trigger(1);
      assert.equal(rb.consume(), fit);
      assertSequence(records.slice(fit), range(200, 200 + fit));
      const k = counters();
      assert.equal(k.offered - k.dropped, records.length, 'every record is either received or counted lost');
    });
  });

  test(`${consumer}: discarded records are skipped and the ring moves past them`, () => {
    // 80 records fill most of the page; discarded ones hold their space until consumed past.
    withRing(consumer, { recordsPerTrigger: 80, ringBytes: PAGE, discardEvery: 4 }, ({ records, rb, counters }) => {
      for (let round = 0; round < 10; round++) {
        trigger(1);
        assert.equal(rb.consume(), 60);
      }
      assertSequence(records, range(0, 800).filter((s) => s % 4 !== 3));
      assert.deepEqual(counters(), { offered: 800, dropped: 0, discarded: 200 });
    });
  });
}

test('mmap: a producer on another CPU writing while we read: order kept, every record accounted for', { skip: availableParallelism() < 2 && 'needs two CPUs' }, async () => {
  // Flat out for a second, so the reader meets records still being written (BUSY) and a full
  // ring; it must stop at the first busy record and never deliver one twice or out of order.
  const producer = startProducer(0, 1, 1);
  const ringBytes = 16 * PAGE;
  const load = openDrainLoad({ tgid: producer.pid, recordsPerTrigger: 16, ringBytes });
  let received = 0;
  let lastSeq = -1;
  let misordered = 0;
  const rb = new RingBuffer(load.events, (b) => {
    const r = decodeDrainRecord(b);
    if (r.seq <= lastSeq || r.value !== r.seq * 3) misordered++;
    lastSeq = r.seq;
    received++;
  }, (err) => { throw err; }, { consumer: 'mmap' });
  try {
    let finished = false;
    const done = producer.done.finally(() => { finished = true; });
    producer.go();
    while (!finished) {
      rb.consume();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    rb.consume();
    const k = load.counters();
    assert.equal(misordered, 0);
    assert.ok(k.offered * SLOT > 2 * ringBytes, `only ${k.offered} records offered: the ring did not go round`);
    assert.equal(k.offered - k.dropped, received, `offered ${k.offered}, lost ${k.dropped}, received ${received}`);
  } finally {
    rb.close();
    load.close();
    producer.kill();
  }
});

test('mmap: consume after close reads nothing and does not touch the unmapped pages', () => {
  withRing('mmap', { recordsPerTrigger: 5, ringBytes: PAGE }, ({ rb }) => {
    trigger(1);
    rb.close();
    assert.equal(rb.consume(), 0);
  });
});
