// Runs the enabled probes: attach each through the one attach loop, poll them on one timer,
// hand their records to their exporters, and stop everything on one path.
import type { KernelInfo } from '../host/kernel.ts';
import type { Logger } from '../log.ts';
import { loadProbe, usesSelfTrigger } from './attach.ts';
import { Cadence } from './cadence.ts';
import type { RecordExporter } from './exporter.ts';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProbeSource } from './probe.ts';
import { fireSelfTrigger } from './self-trigger.ts';

export interface ProbeStatus {
  probe: string;
  /** The strategy that attached, or undefined when the probe was skipped. */
  strategy?: string;
  /** Strategies tried and refused, with the kernel's reason. */
  refused: Array<{ strategy: string; reason: string }>;
  skippedHooks: Array<{ program: string; reason: string }>;
}

/** One probe to run: its definition, its config section, the strategy forced ('auto': none) and its exporters. */
export interface ProbeRun {
  definition: ProbeDefinition<unknown, unknown>;
  config: unknown;
  strategy: string;
  exporters: ReadonlyArray<RecordExporter<unknown>>;
}

/** What every probe of a run shares. */
export interface RunContext {
  interval: number;
  log: Logger;
  kernel: KernelInfo;
  requestStop?(reason: string, exitCode?: number): void;
}

interface Running {
  run: ProbeRun;
  loaded: LoadedProbe;
  source: ProbeSource;
}

export const POLL_PERIOD_MS = 200;

export class Runtime {
  readonly #ctx: RunContext;
  readonly #running: Running[] = [];
  readonly #status: ProbeStatus[] = [];
  readonly #finalCounters = new Map<string, { received: number; dropped: number }>();
  #timer: NodeJS.Timeout | undefined;
  #exporterErrors = 0;
  readonly #trigger: Cadence;

  constructor(ctx: RunContext) {
    this.#ctx = ctx;
    this.#trigger = new Cadence(ctx.interval * 1000);
  }

  get status(): readonly ProbeStatus[] {
    return this.#status;
  }

  /** Attaches every probe it can; a probe that attaches nowhere is reported and skipped. */
  start(runs: readonly ProbeRun[]): void {
    for (const run of runs) {
      const def = run.definition;
      const ctx: ProbeContext<unknown> = { ...this.#ctx, config: run.config, othersRunning: runs.length > 1 };
      const outcome = loadProbe(def, ctx, run.strategy);
      const status: ProbeStatus = { probe: def.name, refused: outcome.refused, skippedHooks: outcome.loaded?.skipped ?? [] };
      this.#status.push(status);
      if (!outcome.loaded) {
        const why = outcome.refused.map((r) => `${r.strategy}: ${r.reason}`).join('; ');
        this.#ctx.log.warn(`${def.name} skipped: no attach strategy works on kernel ${this.#ctx.kernel.release} (${why})`);
        continue;
      }
      try {
        const source = def.start(outcome.loaded, ctx, (record) => this.#dispatch(run, record));
        this.#running.push({ run, loaded: outcome.loaded, source });
        status.strategy = outcome.loaded.strategy.name;
        // A preferred strategy refused is said here, not only under -v: it costs more, or sees less.
        const before = outcome.refused.map((r) => `${r.strategy} refused: ${r.reason}`).join('; ');
        this.#ctx.log.info(`${def.name}: attached with ${status.strategy}${before ? ` (${before})` : ''}`);
      } catch (err) {
        outcome.loaded.obj.close();
        status.refused.push({ strategy: outcome.loaded.strategy.name, reason: (err as Error).message });
        this.#ctx.log.warn(`${def.name} skipped: ${(err as Error).message}`);
      }
    }
    for (const r of this.#running) for (const e of r.run.exporters) this.#guard(r.run, () => e.start?.());
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
        this.#ctx.log.warn(`${r.run.definition.name}: poll failed: ${(err as Error).message}`);
      }
    }
    for (const r of this.#running) for (const e of r.run.exporters) this.#guard(r.run, () => e.afterPoll?.());
  }

  counters(): Map<string, { received: number; dropped: number }> {
    const out = new Map(this.#finalCounters);
    for (const r of this.#running) out.set(r.run.definition.name, r.source.counters());
    return out;
  }

  get exporterErrors(): number {
    return this.#exporterErrors;
  }

  #dispatch(run: ProbeRun, record: unknown): void {
    for (const e of run.exporters) this.#guard(run, () => e.onRecord(record));
  }

  /** An exporter that throws is logged (the first few times) and keeps receiving. */
  #guard(run: ProbeRun, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#exporterErrors++;
      if (this.#exporterErrors <= 5) this.#ctx.log.warn(`exporter failed on ${run.definition.name}: ${(err as Error).message}`);
    }
  }

  /** Final drain of every probe, then detach and close, then the exporters' stop; idempotent. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.poll();
    const stopped = this.#running.splice(0);
    for (const r of stopped) {
      try {
        r.source.stop();
        this.#finalCounters.set(r.run.definition.name, r.source.counters());
      } catch (err) {
        this.#ctx.log.warn(`${r.run.definition.name}: stop failed: ${(err as Error).message}`);
      } finally {
        r.loaded.obj.close();
      }
    }
    for (const r of stopped) {
      for (const e of r.run.exporters) {
        this.#guard(r.run, () => {
          e.afterPoll?.();
          e.stop?.();
        });
      }
    }
  }
}
