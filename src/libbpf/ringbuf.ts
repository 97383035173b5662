// A BPF ring buffer consumed on the JS thread: libbpf calls our callback from inside
// ring_buffer__consume(), which we call from a timer, so no native thread ever enters JS.
import { BpfError } from './errors.ts';
import { native, errno, registerCallback, unregisterCallback, SampleFn, view, type Ptr } from './ffi.ts';
import { takeLibbpfWarnings } from './log.ts';
import type { BpfMap } from './map.ts';

export type SampleHandler = (record: Buffer) => void;

export class RingBuffer {
  #rb: Ptr | null;
  #callback: Ptr | null;
  #failures = 0;
  #onError: (err: unknown) => void;

  /** `handler` receives a copy of each record; errors it throws are counted, not propagated. */
  constructor(map: BpfMap, handler: SampleHandler, onError: (err: unknown) => void = () => {}) {
    this.#onError = onError;
    const cb = (_ctx: Ptr, data: Ptr, size: number | bigint): number => {
      const n = Number(size);
      const record = Buffer.from(new Uint8Array(view(data, n)));
      try {
        handler(record);
      } catch (err) {
        this.#failures++;
        this.#onError(err);
      }
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

  /** Records whose handler threw (a decoder bug must not stop the probe). */
  get handlerFailures(): number {
    return this.#failures;
  }

  /** Drains what is there without blocking; returns the number of records consumed. */
  consume(): number {
    if (this.#rb === null) return 0;
    const n = native.ring_buffer__consume(this.#rb) as number;
    if (n < 0) throw new BpfError('consume ring buffer', -n);
    return n;
  }

  close(): void {
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
