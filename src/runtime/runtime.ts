// Runs the enabled probes: attach each through the one attach loop, poll them on one timer,
// hand their records to the sinks (exporters), and stop everything on one path.
import { loadProbe, usesSelfTrigger } from './attach.ts';
import { Cadence } from './cadence.ts';
import { fireSelfTrigger } from './self-trigger.ts';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProbeName, ProbeSource } from './probe.ts';

export interface RecordSink {
  /** Called for every record; a sink that throws is logged and keeps receiving. */
  onRecord(probe: ProbeName, record: unknown): void;
  /** After every poll of all probes (the console prints accumulated rows here). */
  afterPoll?(): void;
}

export interface ProbeStatus {
  probe: ProbeName;
  /** The strategy that attached, or undefined when the probe was skipped. */
  strategy?: string;
  /** Strategies tried and refused, with the kernel's reason. */
  refused: Array<{ strategy: string; reason: string }>;
  skippedHooks: Array<{ program: string; reason: string }>;
}

interface Running {
  def: ProbeDefinition<unknown>;
  loaded: LoadedProbe;
  source: ProbeSource;
}

export const POLL_PERIOD_MS = 200;

export class Runtime {
  readonly #ctx: ProbeContext;
  readonly #sinks: RecordSink[];
  readonly #running: Running[] = [];
  readonly #status: ProbeStatus[] = [];
  readonly #finalCounters = new Map<ProbeName, { received: number; dropped: number }>();
  #timer: NodeJS.Timeout | undefined;
  #sinkErrors = 0;
  readonly #trigger: Cadence;

  constructor(ctx: ProbeContext, sinks: RecordSink[]) {
    this.#ctx = ctx;
    this.#sinks = sinks;
    this.#trigger = new Cadence(ctx.config.interval * 1000);
  }

  get status(): readonly ProbeStatus[] {
    return this.#status;
  }

  /** Attaches every probe it can; a probe that attaches nowhere is reported and skipped. */
  start(defs: ReadonlyArray<ProbeDefinition<unknown>>): void {
    for (const def of defs) {
      const forced = (this.#ctx.config.probes as Record<string, { strategy?: string }>)[def.name]?.strategy ?? 'auto';
      const outcome = loadProbe(def, this.#ctx, forced);
      const status: ProbeStatus = { probe: def.name, refused: outcome.refused, skippedHooks: outcome.loaded?.skipped ?? [] };
      this.#status.push(status);
      if (!outcome.loaded) {
        const why = outcome.refused.map((r) => `${r.strategy}: ${r.reason}`).join('; ');
        this.#ctx.log.warn(`${def.name} skipped: no attach strategy works on kernel ${this.#ctx.kernel.release} (${why})`);
        continue;
      }
      try {
        const source = def.start(outcome.loaded, this.#ctx, (record) => this.#dispatch(def.name, record));
        this.#running.push({ def, loaded: outcome.loaded, source });
        status.strategy = outcome.loaded.strategy.name;
        this.#ctx.log.info(`${def.name}: attached with ${status.strategy}`);
      } catch (err) {
        outcome.loaded.obj.close();
        status.refused.push({ strategy: outcome.loaded.strategy.name, reason: (err as Error).message });
        this.#ctx.log.warn(`${def.name} skipped: ${(err as Error).message}`);
      }
    }
    if (this.#running.length > 0) this.#timer = setInterval(() => this.poll(), POLL_PERIOD_MS);
  }

  get attachedCount(): number {
    return this.#running.length;
  }

  poll(): void {
    const now = Date.now();
    // Self-triggered probes sample once per interval, when we fire the trigger.
    if (this.#running.some((r) => usesSelfTrigger(r.loaded)) && this.#trigger.due(now)) fireSelfTrigger();
    for (const r of this.#running) {
      try {
        r.source.poll(now);
      } catch (err) {
        this.#ctx.log.warn(`${r.def.name}: poll failed: ${(err as Error).message}`);
      }
    }
    for (const sink of this.#sinks) {
      try {
        sink.afterPoll?.();
      } catch (err) {
        this.#sinkErrors++;
        if (this.#sinkErrors <= 5) this.#ctx.log.warn(`exporter failed: ${(err as Error).message}`);
      }
    }
  }

  counters(): Map<ProbeName, { received: number; dropped: number }> {
    const out = new Map(this.#finalCounters);
    for (const r of this.#running) out.set(r.def.name, r.source.counters());
    return out;
  }

  get sinkErrors(): number {
    return this.#sinkErrors;
  }

  #dispatch(probe: ProbeName, record: unknown): void {
    for (const sink of this.#sinks) {
      try {
        sink.onRecord(probe, record);
      } catch (err) {
        this.#sinkErrors++;
        if (this.#sinkErrors <= 5) this.#ctx.log.warn(`exporter failed on a ${probe} record: ${(err as Error).message}`);
      }
    }
  }

  /** Final drain of every probe, then detach and close; idempotent. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.poll();
    for (const r of this.#running.splice(0)) {
      try {
        r.source.stop();
        this.#finalCounters.set(r.def.name, r.source.counters());
      } catch (err) {
        this.#ctx.log.warn(`${r.def.name}: stop failed: ${(err as Error).message}`);
      } finally {
        r.loaded.obj.close();
      }
    }
  }
}
