// A BPF ring buffer consumed on the JS thread, from a timer: no native thread ever enters JS.
// Two consumers behind one class:
//  - mmap (default): the ring's pages mapped and read in JS in batches (ringbuf-mmap.ts), no
//    native call per record;
//  - libbpf: ring_buffer__consume() calling a koffi callback per record, kept as the fallback
//    (used when mapping fails) and for comparison (`npm run bench`), selected with
//    MEMWATCHER_RINGBUF_CONSUMER=libbpf or the constructor option.
import { BpfError } from './errors.ts';
import { native, errno, registerCallback, unregisterCallback, SampleFn, view, type Ptr } from './ffi.ts';
import { takeLibbpfWarnings } from './log.ts';
import type { BpfMap } from './map.ts';
import { MmapRingReader } from './ringbuf-mmap.ts';

export type SampleHandler = (record: Buffer) => void;
export type RingBufferConsumer = 'mmap' | 'libbpf';

export interface RingBufferOptions {
  /** Which consumer to use; default from MEMWATCHER_RINGBUF_CONSUMER, else mmap. */
  consumer?: RingBufferConsumer;
}

export function defaultConsumer(): RingBufferConsumer {
  return process.env.MEMWATCHER_RINGBUF_CONSUMER === 'libbpf' ? 'libbpf' : 'mmap';
}

export class RingBuffer {
  #rb: Ptr | null = null;
  #callback: Ptr | null = null;
  #reader: MmapRingReader | null = null;
  #visit: ((data: Buffer, offset: number, length: number) => void) | null = null;
  #failures = 0;
  readonly #onError: (err: unknown) => void;
  /** The consumer in use: the requested one, or libbpf when mapping the ring failed. */
  readonly consumer: RingBufferConsumer;
  /** Why the mmap consumer was not used, when it was requested and failed. */
  readonly fallbackReason: string | undefined;

  /** `handler` receives a copy of each record; errors it throws are counted, not propagated. */
  constructor(map: BpfMap, handler: SampleHandler, onError: (err: unknown) => void = () => {}, opts: RingBufferOptions = {}) {
    this.#onError = onError;
    let consumer = opts.consumer ?? defaultConsumer();
    if (consumer === 'mmap') {
      try {
        this.#reader = MmapRingReader.open(map.fd, map.maxEntries, `map ${map.name}`);
        this.#visit = (data, offset, length) => {
          // Copied out: the kernel reuses these bytes once consumer_pos moves past them.
          const record = Buffer.allocUnsafe(length);
          data.copy(record, 0, offset, offset + length);
          this.#deliver(handler, record);
        };
      } catch (err) {
        this.fallbackReason = (err as Error).message;
        consumer = 'libbpf';
      }
    }
    this.consumer = consumer;
    if (consumer === 'libbpf') this.#openLibbpf(map, handler);
  }

  #openLibbpf(map: BpfMap, handler: SampleHandler): void {
    const cb = (_ctx: Ptr, data: Ptr, size: number | bigint): number => {
      const n = Number(size);
      this.#deliver(handler, Buffer.from(new Uint8Array(view(data, n))));
      return 0;
    };
    this.#callback = registerCallback(cb as never, SampleFn);
    const rb = native.ring_buffer__new(map.fd, this.#callback, null, null);
    if (rb === null) {
      const e = errno();
      unregisterCallback(this.#callback);
      this.#callback = null;
      throw new BpfError(`ring buffer on map ${map.name}`, e, takeLibbpfWarnings());
    }
    this.#rb = rb;
  }

  #deliver(handler: SampleHandler, record: Buffer): void {
    try {
      handler(record);
    } catch (err) {
      this.#failures++;
      this.#onError(err);
    }
  }

  /** Records whose handler threw (a decoder bug must not stop the probe). */
  get handlerFailures(): number {
    return this.#failures;
  }

  /** Drains what is there without blocking; returns the number of records consumed. */
  consume(): number {
    if (this.#reader !== null) return this.#reader.consume(this.#visit!);
    if (this.#rb === null) return 0;
    const n = native.ring_buffer__consume(this.#rb) as number;
    if (n < 0) throw new BpfError('consume ring buffer', -n);
    return n;
  }

  close(): void {
    if (this.#reader !== null) {
      this.#reader.close();
      this.#reader = null;
      this.#visit = null;
    }
    if (this.#rb !== null) {
      native.ring_buffer__free(this.#rb);
      this.#rb = null;
    }
    if (this.#callback !== null) {
      unregisterCallback(this.#callback);
      this.#callback = null;
    }
  }
}
