// The console exporter: each probe's table on stdout, prefixed with the probe's name when
// several probes share the terminal.
import type { ProbeName } from '../runtime/probe.ts';
import type { RecordSink } from '../runtime/runtime.ts';

export interface ConsoleBinding<R> {
  start?(): void;
  onRecord(record: R): void;
  /** After each poll of the probes: print what accumulated (one row per change). */
  afterPoll?(): void;
  stop?(): void;
}

export class ConsoleSink implements RecordSink {
  readonly #bindings: Map<ProbeName, ConsoleBinding<unknown>>;

  constructor(bindings: Map<ProbeName, ConsoleBinding<unknown>>) {
    this.#bindings = bindings;
  }

  start(): void {
    for (const b of this.#bindings.values()) b.start?.();
  }

  onRecord(probe: ProbeName, record: unknown): void {
    this.#bindings.get(probe)?.onRecord(record);
  }

  afterPoll(): void {
    for (const b of this.#bindings.values()) b.afterPoll?.();
  }

  stop(): void {
    for (const b of this.#bindings.values()) {
      b.afterPoll?.();
      b.stop?.();
    }
  }
}
