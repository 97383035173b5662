// Spans wait here for the exporter while the backend is slow or down. The SDK's
// BatchSpanProcessor drops the newest span when full, does not count it, and loses a batch
// whose export failed; here the queue is bounded, the OLDEST spans make room for new ones,
// a batch that failed for a transient reason goes back to the head of the queue, and every
// span lost is counted (exported as memwatcher.telemetry.dropped).
import { diag, TraceFlags, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';

type ExportResult = Parameters<Parameters<SpanExporter['export']>[1]>[0];
/** ExportResultCode.SUCCESS of @opentelemetry/core. */
const SUCCESS = 0;

export interface BoundedSpanProcessorOptions {
  exporter: SpanExporter;
  /** Spans held at most; beyond it the oldest are dropped and counted. */
  maxQueueSize: number;
  maxExportBatchSize?: number;
  /** How often the queue is exported (earlier when a full batch is waiting). */
  scheduledDelayMillis?: number;
  /** An export that has not answered by then counts as failed (its spans are re-queued). */
  exportTimeoutMillis?: number;
  /** Told the first time spans are dropped after a period without drops. */
  onDrop?(dropped: number, reason: string): void;
}

/** Why an export failed: a transient failure keeps the batch; a rejection by the backend does not. */
function permanentRejection(err: Error | undefined): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  // OTLPExporterError carries the HTTP status: 4xx other than 408/429 means "never send this again".
  return typeof code === 'number' && code >= 400 && code < 500 && code !== 408 && code !== 429;
}

/** FIFO with amortized O(1) push, take from the head and put back at the head. */
class SpanQueue {
  #items: Array<ReadableSpan | undefined> = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(span: ReadableSpan): void {
    this.#items.push(span);
  }

  /** Removes and returns up to n spans from the head (the oldest). */
  take(n: number): ReadableSpan[] {
    const out = this.#items.slice(this.#head, this.#head + n) as ReadableSpan[];
    this.#items.fill(undefined, this.#head, this.#head + out.length);
    this.#head += out.length;
    this.#compact();
    return out;
  }

  /** Puts spans back at the head, in order. */
  putBack(spans: readonly ReadableSpan[]): void {
    if (spans.length <= this.#head) {
      this.#head -= spans.length;
      for (let i = 0; i < spans.length; i++) this.#items[this.#head + i] = spans[i];
    } else {
      this.#items = [...spans, ...this.#items.slice(this.#head)];
      this.#head = 0;
    }
  }

  /** Drops n spans from the head. */
  dropOldest(n: number): void {
    this.take(n);
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    } else if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
  }
}

export class BoundedSpanProcessor implements SpanProcessor {
  readonly #exporter: SpanExporter;
  readonly #max: number;
  readonly #batch: number;
  readonly #delay: number;
  readonly #timeout: number;
  readonly #onDrop: (dropped: number, reason: string) => void;
  readonly #queue = new SpanQueue();
  #dropped = 0;
  #exported = 0;
  #dropping = false;
  #inFlight: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #shutdown = false;

  constructor(opts: BoundedSpanProcessorOptions) {
    if (!Number.isSafeInteger(opts.maxQueueSize) || opts.maxQueueSize < 1) throw new Error('maxQueueSize must be a positive integer');
    this.#exporter = opts.exporter;
    this.#max = opts.maxQueueSize;
    this.#batch = Math.max(1, Math.min(opts.maxExportBatchSize ?? 512, this.#max));
    this.#delay = opts.scheduledDelayMillis ?? 5000;
    this.#timeout = opts.exportTimeoutMillis ?? 30_000;
    this.#onDrop = opts.onDrop ?? (() => {});
  }

  /** Spans lost so far: pushed out of a full queue, rejected by the backend, or left at shutdown. */
  get dropped(): number {
    return this.#dropped;
  }

  get exported(): number {
    return this.#exported;
  }

  get queued(): number {
    return this.#queue.length;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.#shutdown || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    this.#queue.push(span);
    this.#trim('export queue full');
    if (this.#queue.length >= this.#batch) this.#kick();
    else this.#schedule();
  }

  async forceFlush(): Promise<void> {
    await this.#drain();
  }

  async shutdown(): Promise<void> {
    if (this.#shutdown) return;
    this.#shutdown = true;
    this.#clearTimer();
    try {
      await this.#drain();
    } finally {
      // What the backend never took is lost now: count it.
      this.#drop(this.#queue.length, 'unsent at shutdown');
      this.#queue.clear();
      await this.#exporter.shutdown();
    }
  }

  /** Exports batch after batch until the queue is empty or an export fails. */
  async #drain(): Promise<void> {
    if (this.#inFlight) await this.#inFlight;
    while (this.#queue.length > 0) {
      if (!(await this.#exportOne())) return;
    }
  }

  #kick(): void {
    if (this.#inFlight) return;
    this.#clearTimer();
    void this.#exportOne().then((ok) => {
      if (ok && this.#queue.length >= this.#batch) this.#kick();
      else if (this.#queue.length > 0) this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#timer || this.#inFlight || this.#shutdown) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick();
    }, this.#delay);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One export at a time; resolves true when the batch was delivered. */
  #exportOne(): Promise<boolean> {
    if (this.#inFlight) return this.#inFlight;
    const spans = this.#queue.take(this.#batch);
    if (spans.length === 0) return Promise.resolve(true);
    const done = new Promise<ExportResult>((resolve) => {
      const timer = setTimeout(() => resolve({ code: 1, error: new Error(`span export did not answer within ${this.#timeout} ms`) }), this.#timeout);
      timer.unref();
      try {
        this.#exporter.export(spans, (result) => {
          clearTimeout(timer);
          resolve(result);
        });
      } catch (err) {
        clearTimeout(timer);
        resolve({ code: 1, error: err as Error });
      }
    });
    this.#inFlight = done.then((result) => {
      this.#inFlight = undefined;
      if (result.code === SUCCESS) {
        this.#exported += spans.length;
        this.#dropping = false;
        return true;
      }
      const why = (result.error?.message ?? 'export failed').replace(/\s+/g, ' ').trim();
      diag.warn(`span export failed: ${why}`);
      if (this.#shutdown) {
        this.#drop(spans.length, `unsent at shutdown (${why})`);
      } else if (permanentRejection(result.error)) {
        this.#drop(spans.length, `rejected by the backend (${why})`);
      } else {
        // The oldest spans: back at the head, and the first to go if the queue overflows meanwhile.
        this.#queue.putBack(spans);
        this.#trim('export queue full');
      }
      return false;
    });
    return this.#inFlight;
  }

  #trim(reason: string): void {
    const excess = this.#queue.length - this.#max;
    if (excess <= 0) return;
    this.#queue.dropOldest(excess);
    this.#drop(excess, reason);
  }

  #drop(n: number, reason: string): void {
    if (n <= 0) return;
    this.#dropped += n;
    if (!this.#dropping) {
      this.#dropping = true;
      this.#onDrop(n, reason);
    }
  }
}
