// A BPF ring buffer read in place: its pages mapped into our address space and its records
// walked in JS, one batch per consume(), with no native call per record. libbpf's
// ring_buffer__consume() crosses into JS once per record (koffi callback), which caps a drain
// at about a quarter of a million records a second; reading the mapping directly does not.
//
// The kernel's layout (kernel/bpf/ringbuf.c, Documentation/bpf/ringbuf.rst):
//   map offset 0:         consumer page, read-write: u64 consumer_pos (we advance it)
//   map offset pagesize:  producer page, read-only:  u64 producer_pos
//                         then the data pages, mapped twice in a row, so a record that wraps
//                         past the end is still contiguous in our view
// A record is an 8-byte header (u32 len with BUSY (bit 31, reserved and not yet committed) and
// DISCARD (bit 30) flags, u32 page offset for the kernel) and the sample, the whole rounded up
// to 8 bytes. Positions only grow; position & (size - 1) is the offset in the data pages.
import { BpfError } from './errors.ts';
import { native, errno, address, view, type Ptr } from './ffi.ts';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = 0xffffffffffffffffn;

export const RINGBUF_HDR_SZ = 8;
export const RINGBUF_BUSY_BIT = 0x80000000;
export const RINGBUF_DISCARD_BIT = 0x40000000;
const LEN_MASK = 0x3fffffff;

/** Receives a record's bytes at `data[offset, offset + length)`, valid until the callback returns. */
export type RecordVisitor = (data: Buffer, offset: number, length: number) => void;

/** The ring's shared memory as typed views: what mmap gives, or a byte image in tests. */
export interface RingMemory {
  consumerPos: BigUint64Array;
  producerPos: BigUint64Array;
  /** The data pages twice in a row (2 * dataSize bytes), from their first byte. */
  data: ArrayBuffer;
  dataOffset: number;
  dataSize: number;
}

export class MmapRingReader {
  readonly dataSize: number;
  #consumerPos: BigUint64Array;
  #producerPos: BigUint64Array;
  /** The data pages, twice: headers read as u32 words, samples as bytes. */
  #words: Uint32Array;
  #bytes: Buffer;
  #unmap: (() => void) | null;
  #closed = false;
  /** Where to store consumer_pos early during a long batch, so the producer regains space. */
  readonly #releaseEvery: number;

  /** Maps the ring buffer map `mapFd` of `dataSize` bytes (its max_entries). */
  static open(mapFd: number, dataSize: number, mapName = 'ring buffer'): MmapRingReader {
    checkSize(dataSize, mapName);
    const pageSize = native.getpagesize() as number;
    const consumerMap = mapOrThrow(pageSize, PROT_READ | PROT_WRITE, mapFd, 0, `map consumer page of ${mapName}`);
    let producerMap: Ptr;
    try {
      producerMap = mapOrThrow(pageSize + 2 * dataSize, PROT_READ, mapFd, pageSize, `map data pages of ${mapName}`);
    } catch (err) {
      native.munmap(consumerMap, pageSize);
      throw err;
    }
    const prod = view(producerMap, pageSize + 2 * dataSize);
    const mem: RingMemory = {
      consumerPos: new BigUint64Array(view(consumerMap, pageSize), 0, 1),
      producerPos: new BigUint64Array(prod, 0, 1),
      data: prod,
      dataOffset: pageSize,
      dataSize,
    };
    return new MmapRingReader(mem, () => {
      native.munmap(producerMap, pageSize + 2 * dataSize);
      native.munmap(consumerMap, pageSize);
    });
  }

  constructor(mem: RingMemory, unmap: (() => void) | null = null) {
    checkSize(mem.dataSize, 'ring buffer');
    this.dataSize = mem.dataSize;
    this.#consumerPos = mem.consumerPos;
    this.#producerPos = mem.producerPos;
    this.#words = new Uint32Array(mem.data, mem.dataOffset, (2 * mem.dataSize) / 4);
    this.#bytes = Buffer.from(mem.data, mem.dataOffset, 2 * mem.dataSize);
    this.#unmap = unmap;
    this.#releaseEvery = Math.max(mem.dataSize / 8, RINGBUF_HDR_SZ);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes committed or reserved by producers and not yet consumed. */
  pending(): number {
    if (this.closed) return 0;
    return Number(Atomics.load(this.#producerPos, 0) - Atomics.load(this.#consumerPos, 0));
  }

  /**
   * Visits every committed record in order, skipping discarded ones, and stops at the first
   * record still being written (BUSY) or when caught up with the producer. Hands back at most
   * about one ring's worth per call so that a producer as fast as we are cannot hold the event
   * loop here. Returns the number of records visited.
   *
   * Ordering: producer_pos and each header are read with Atomics.load and consumer_pos is
   * written with Atomics.store. That keeps V8 from caching or reordering these accesses across
   * the loop (plain typed-array reads of memory another CPU writes may be hoisted by the JIT),
   * and it gives the acquire/release pairs the protocol needs: header load (acquire) before
   * reading the sample, sample reads before the consumer_pos store (release) that lets the
   * kernel overwrite them. On x86 (TSO) loads are not reordered with loads or with later stores,
   * so the loads compile to plain moves and each store to one locked exchange (a store every
   * eighth of the ring and at the end of the call, not per record, to keep fences rare). On
   * arm64, V8 emits ldar/stlr for Atomics.load/store, which is exactly the acquire/release that
   * libbpf's smp_load_acquire/smp_store_release give there; a plain store would not be enough.
   */
  consume(visit: RecordVisitor): number {
    if (this.closed) return 0;
    const size = this.dataSize;
    const mask = size - 1;
    const words = this.#words;
    const bytes = this.#bytes;
    let cons = Number(Atomics.load(this.#consumerPos, 0));
    let prod = Number(Atomics.load(this.#producerPos, 0));
    const stopAt = cons + size;
    let released = cons;
    let count = 0;
    // Positions stay below 2^53 for centuries of traffic; offsets use the low bits only.
    let off = cons % size;
    while (cons < prod) {
      const hdr = Atomics.load(words, off >>> 2);
      if (hdr & RINGBUF_BUSY_BIT) break;
      const len = hdr & LEN_MASK;
      if (len > size - RINGBUF_HDR_SZ) {
        throw new BpfError(`ring buffer record of ${len} bytes at position ${cons} (ring of ${size}): the mapping is out of step with the kernel`, 0);
      }
      const step = (len + RINGBUF_HDR_SZ + 7) & ~7;
      if ((hdr & RINGBUF_DISCARD_BIT) === 0) {
        count++;
        visit(bytes, off + RINGBUF_HDR_SZ, len);
      }
      cons += step;
      off = (off + step) & mask;
      if (cons - released >= this.#releaseEvery) {
        Atomics.store(this.#consumerPos, 0, BigInt(cons));
        released = cons;
      }
      if (cons >= prod && cons < stopAt) prod = Number(Atomics.load(this.#producerPos, 0));
    }
    if (cons !== released) Atomics.store(this.#consumerPos, 0, BigInt(cons));
    return count;
  }

  /** Unmaps the pages; the views above must not be touched afterwards (they would fault). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Drop the views first so nothing can read unmapped memory through them.
    this.#words = new Uint32Array(0);
    this.#bytes = Buffer.alloc(0);
    this.#consumerPos = new BigUint64Array(1);
    this.#producerPos = new BigUint64Array(1);
    this.#unmap?.();
    this.#unmap = null;
  }
}

function checkSize(dataSize: number, name: string): void {
  if (!Number.isInteger(dataSize) || dataSize < 8 || (dataSize & (dataSize - 1)) !== 0 || dataSize > 2 ** 30) {
    throw new Error(`${name}: ring size ${dataSize} is not a power of two up to 1 GiB`);
  }
}

function mapOrThrow(length: number, prot: number, fd: number, offset: number, op: string): Ptr {
  const ptr = native.mmap(null, length, prot, MAP_SHARED, fd, offset) as Ptr;
  if (ptr === null || address(ptr) === MAP_FAILED) throw new BpfError(op, errno());
  return ptr;
}
