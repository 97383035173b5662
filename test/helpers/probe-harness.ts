// Runs one probe through the real runtime (attach loop, ring buffer, decoders) on the running
// kernel, collecting its records for assertions. Needs root.
import { loadConfig } from '../../src/app/config.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import { routeLibbpfLog } from '../../src/libbpf/log.ts';
import { createLogger } from '../../src/log.ts';
import type { ProbeDefinition } from '../../src/runtime/probe.ts';
import { Runtime, type ProbeStatus } from '../../src/runtime/runtime.ts';
import { scaled } from '../../harness/time-scale.ts';

export interface ProbeHarness<R> {
  records: R[];
  status: ProbeStatus;
  /** Drains the ring buffers now. */
  poll(): void;
  /** Polls until `pred` holds for some record (newest first) or the timeout (scaled: time-scale.ts) passes. */
  waitFor(pred: (r: R) => boolean, timeoutMs?: number): Promise<R>;
  counters(): { received: number; dropped: number };
  stop(): void;
}

/** MEMWATCHER_PROBES_<P>_STRATEGY from the test's environment: the kernel matrix forces each strategy in turn. */
export function forcedStrategies(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => /^MEMWATCHER_PROBES_[A-Z]+_STRATEGY$/.test(e[0]) && e[1] !== undefined));
}

export function startProbe<R, C = unknown>(def: ProbeDefinition<R, C>, env: Record<string, string> = {}): ProbeHarness<R> {
  const { config } = loadConfig({ env: { MEMWATCHER_INTERVAL: '0.1', ...forcedStrategies(), ...env } });
  const log = createLogger({ verbose: process.env.MEMWATCHER_TEST_VERBOSE === '1' });
  routeLibbpfLog(log);
  const records: R[] = [];
  const section = (config.probes as Record<string, unknown>)[def.name] as { strategy?: string };
  const runtime = new Runtime({ interval: config.interval, log, kernel: readKernelInfo() });
  runtime.start([{
    definition: def as ProbeDefinition<unknown, unknown>,
    config: section,
    strategy: section.strategy ?? 'auto',
    exporters: [{ onRecord: (r: unknown) => records.push(r as R) }],
  }]);
  const status = runtime.status[0]!;
  return {
    records,
    status,
    poll: () => runtime.poll(),
    async waitFor(pred, timeoutMs = 5000) {
      const deadline = Date.now() + scaled(timeoutMs);
      for (;;) {
        runtime.poll();
        for (let i = records.length - 1; i >= 0; i--) if (pred(records[i]!)) return records[i]!;
        if (Date.now() > deadline) throw new Error(`no matching ${def.name} record within ${scaled(timeoutMs)} ms (${records.length} records seen)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    counters: () => runtime.counters().get(def.name) ?? { received: 0, dropped: 0 },
    stop: () => runtime.stop(),
  };
}
