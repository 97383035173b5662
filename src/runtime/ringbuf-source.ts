// The common ProbeSource: one ring buffer decoded into records, with the BPF side's drop
// counter (the `events_dropped` global every probe object keeps) and decode failures counted.
import type { BpfObject } from '../libbpf/object.ts';
import { RingBuffer } from '../libbpf/ringbuf.ts';
import type { Logger } from '../log.ts';
import type { ProbeSource } from './probe.ts';

export class RingBufferSource implements ProbeSource {
  readonly #obj: BpfObject;
  readonly #rb: RingBuffer;
  #received = 0;
  #decodeErrors = 0;
  #lastError = '';

  constructor(obj: BpfObject, mapName: string, onRecord: (buf: Buffer) => void, log: Logger, probe: string) {
    this.#obj = obj;
    this.#rb = new RingBuffer(obj.map(mapName), (buf) => {
      onRecord(buf);
      this.#received++;
    }, (err) => {
      this.#decodeErrors++;
      const msg = (err as Error).message;
      if (msg !== this.#lastError) log.warn(`${probe}: record dropped: ${msg}`);
      this.#lastError = msg;
    });
  }

  poll(): void {
    this.#rb.consume();
  }

  counters(): { received: number; dropped: number } {
    let kernelDropped = 0n;
    try {
      kernelDropped = this.#obj.readGlobal('.bss', 'events_dropped');
    } catch { /* object without the counter */ }
    return { received: this.#received, dropped: Number(kernelDropped) + this.#decodeErrors };
  }

  stop(): void {
    this.#rb.consume();
    this.#rb.close();
  }
}
