// The batch ring-buffer reader on a byte image of the layout the kernel documents
// (Documentation/bpf/ringbuf.rst): consumer and producer positions, data pages mapped twice,
// 8-byte record headers with BUSY and DISCARD bits. Here records can be left BUSY on purpose,
// which a real producer only does for nanoseconds (test/kernel/ringbuf.test.ts covers the
// real kernel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MmapRingReader, RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT, RINGBUF_HDR_SZ } from '../../src/libbpf/ringbuf-mmap.ts';

/** A ring image with a producer that writes like the kernel: reserve (BUSY), fill, commit. */
class RingImage {
  readonly size: number;
  readonly consumerPos = new BigUint64Array(1);
  readonly producerPos = new BigUint64Array(1);
  readonly data: ArrayBuffer;
  readonly #bytes: Uint8Array;

  constructor(size: number) {
    this.size = size;
    this.data = new ArrayBuffer(2 * size);
    this.#bytes = new Uint8Array(this.data);
  }

  /** Writes through both mappings of the data, as the kernel's double mapping shows it. */
  #put(pos: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const off = (pos + i) % this.size;
      this.#bytes[off] = bytes[i]!;
      this.#bytes[off + this.size] = bytes[i]!;
    }
  }

  #header(pos: number, word: number): void {
    const h = new Uint8Array(8);
    new DataView(h.buffer).setUint32(0, word >>> 0, true);
    this.#put(pos, h);
  }

  /** Reserves `payload.length` bytes; returns the functions that finish the record. */
  reserve(payload: Uint8Array): { commit(): void; discard(): void } {
    const pos = Number(this.producerPos[0]);
    const slot = (payload.length + RINGBUF_HDR_SZ + 7) & ~7;
    this.#header(pos, payload.length | RINGBUF_BUSY_BIT);
    this.#put(pos + RINGBUF_HDR_SZ, payload);
    this.producerPos[0] = BigInt(pos + slot);
    return {
      commit: () => this.#header(pos, payload.length),
      discard: () => this.#header(pos, payload.length | RINGBUF_DISCARD_BIT),
    };
  }

  write(...payloads: Uint8Array[]): void {
    for (const p of payloads) this.reserve(p).commit();
  }

  reader(): MmapRingReader {
    return new MmapRingReader({ consumerPos: this.consumerPos, producerPos: this.producerPos, data: this.data, dataOffset: 0, dataSize: this.size });
  }
}

const rec = (n: number, len = 12) => new Uint8Array(len).fill(n);

function drain(reader: MmapRingReader): number[][] {
  const out: number[][] = [];
  reader.consume((data, offset, length) => out.push([...data.subarray(offset, offset + length)]));
  return out;
}

test('records come out in order with their lengths, and consumer_pos moves past them', () => {
  const ring = new RingImage(256);
  const reader = ring.reader();
  ring.write(rec(1, 5), rec(2, 8), rec(3, 13));
  assert.deepEqual(drain(reader), [[1, 1, 1, 1, 1], Array(8).fill(2), Array(13).fill(3)]);
  assert.equal(ring.consumerPos[0], 16n + 16n + 24n, 'each slot is header + sample rounded up to 8');
  assert.deepEqual(drain(reader), []);
  assert.equal(reader.pending(), 0);
});

test('stops at a record still being written, and resumes there once it is committed', () => {
  const ring = new RingImage(256);
  const reader = ring.reader();
  ring.write(rec(1));
  const busy = ring.reserve(rec(2));
  ring.write(rec(3)); // committed after the busy one: must wait for it
  assert.deepEqual(drain(reader).map((r) => r[0]), [1]);
  assert.equal(ring.consumerPos[0], 24n, 'not past the busy record');
  assert.deepEqual(drain(reader), []);
  busy.commit();
  assert.deepEqual(drain(reader).map((r) => r[0]), [2, 3]);
  assert.equal(reader.pending(), 0);
});

test('discarded records are skipped but their space is consumed', () => {
  const ring = new RingImage(256);
  const reader = ring.reader();
  ring.write(rec(1));
  ring.reserve(rec(2)).discard();
  ring.write(rec(3));
  assert.deepEqual(drain(reader).map((r) => r[0]), [1, 3]);
  assert.equal(ring.consumerPos[0], 72n);
});

test('a record that wraps past the end of the data is read whole through the second mapping', () => {
  const ring = new RingImage(64);
  const reader = ring.reader();
  for (let round = 0; round < 20; round++) {
    const payload = Uint8Array.from({ length: 20 }, (_, i) => (round * 7 + i) & 0xff);
    ring.write(payload); // 32-byte slots: positions pass the end of the 64-byte ring every 2 rounds
    const got = drain(reader);
    assert.deepEqual(got, [[...payload]], `round ${round}`);
  }
  const ring2 = new RingImage(64);
  const reader2 = ring2.reader();
  ring2.write(rec(9, 40)); // slot 48: the next one starts at 48 and crosses the end
  drain(reader2);
  const crossing = Uint8Array.from({ length: 30 }, (_, i) => i + 1);
  ring2.write(crossing);
  assert.deepEqual(drain(reader2), [[...crossing]]);
  assert.equal(ring2.consumerPos[0], 48n + 40n);
});

test('a length that cannot fit the ring is reported, not followed', () => {
  const ring = new RingImage(64);
  const reader = ring.reader();
  ring.write(rec(1, 100 - 8 - 8)); // a header claiming more than the ring holds
  assert.throws(() => drain(reader), /out of step/);
});

test('sizes that are not a power of two are refused', () => {
  assert.throws(() => new RingImage(48).reader(), /power of two/);
});

test('after close nothing is read', () => {
  const ring = new RingImage(64);
  const reader = ring.reader();
  ring.write(rec(1));
  reader.close();
  assert.deepEqual(drain(reader), []);
  assert.equal(reader.pending(), 0);
});
