// The last span of a kind each process had, so that one probe's span can link to another's
// (a kill to the victim's last allocation report). Bounded: the oldest process is forgotten.
import type { SpanContext } from '@opentelemetry/api';

export class RecentSpans {
  readonly #byKey = new Map<string, SpanContext>();
  readonly #max: number;

  constructor(max = 4096) {
    this.#max = max;
  }

  remember(span: string, pid: number, ctx: SpanContext): void {
    const key = `${span} ${pid}`;
    this.#byKey.delete(key);
    this.#byKey.set(key, ctx);
    if (this.#byKey.size > this.#max) this.#byKey.delete(this.#byKey.keys().next().value!);
  }

  last(span: string, pid: number): SpanContext | undefined {
    return this.#byKey.get(`${span} ${pid}`);
  }
}
