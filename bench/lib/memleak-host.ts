// memleak alone in a process of its own, for the scaling benchmark: the probe's real attach
// (uprobes on one target pid) and its real report path (MemleakSource), driven by commands on
// stdin so that one report can be built, and timed, at the moment the bench chooses. The
// process holds nothing else, so its RSS is the probe's plus Node's.
//   node bench/lib/memleak-host.ts        (MEMWATCHER_* in the environment: pids, interval...)
// Prints {"event":"attached",...} and then one JSON line per command:
//   maps    the kernel memory of every map the probe holds (bpftool's bytes_memlock) and RSS
//   report  builds one report now (the runtime's poll with the report due) and waits for it:
//           milliseconds of the synchronous map read and until the report was emitted
//   minage  the map read a report with --memleak-min-age does (it walks every allocation)
//   end     kills the target and polls until its final report: the poll that handled the exit
//           (final snapshot and purge of its map entries) and the time to that report
//   stop    detaches, closes and exits
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadConfig } from '../../src/app/config.ts';
import type { MemleakConfig } from '../../src/probes/memleak/config.ts';
import { routeLibbpfLog } from '../../src/libbpf/log.ts';
import { createLogger } from '../../src/log.ts';
import { type MemleakRecord, type MemleakReport } from '../../src/probes/memleak/index.ts';
import { memleakProbe } from '../../src/probes/memleak/definition.ts';
import { readStackTotals, snapshotStacks } from '../../src/probes/memleak/report.ts';
import { loadProbe } from '../../src/runtime/attach.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import type { ProbeContext, ProbeSource } from '../../src/runtime/probe.ts';
import { sampleProc } from './proc.ts';

export interface MapMemory {
  name: string;
  type: string;
  maxEntries: number;
  keyBytes: number;
  valueBytes: number;
  /** What the kernel charges the map (bpftool bytes_memlock, fdinfo memlock). */
  memlockBytes: number;
}

/** One report, summed per stack and named by the first frame of the bench's own sites. */
export interface ReportSummary {
  totals: MemleakReport['totals'];
  stats: MemleakReport['stats'];
  stacks: Array<{ stackId: number; bytes: number; allocations: number; site?: string }>;
  ended?: string;
}

export type HostReply =
  | { event: 'attached'; rssKb: number }
  | { event: 'maps'; maps: MapMemory[]; rssKb: number; hwmKb: number }
  | { event: 'report'; pollMs: number; totalMs: number; mapReadMs: number; report: ReportSummary; rssKb: number; hwmKb: number }
  | { event: 'minage'; mapReadMs: number; bytes: number; allocations: number; stacks: number; rssKb: number; hwmKb: number }
  | { event: 'end'; pollMs: number; totalMs: number; report: ReportSummary }
  | { event: 'error'; error: string };

function mapsHeld(): MapMemory[] {
  const ids = new Set<number>();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try {
      const m = /^map_id:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  const all = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Array<{
    id: number; name?: string; type: string; max_entries: number; bytes_key: number; bytes_value: number; bytes_memlock: number;
  }>;
  return all.filter((m) => ids.has(m.id)).map((m) => ({
    name: m.name ?? `#${m.id}`, type: m.type, maxEntries: m.max_entries, keyBytes: m.bytes_key, valueBytes: m.bytes_value, memlockBytes: m.bytes_memlock,
  }));
}

function summary(r: MemleakReport): ReportSummary {
  return {
    totals: r.totals,
    stats: r.stats,
    stacks: r.top.map((s) => {
      const site = s.frames.find((f) => f.function?.startsWith('hold_site_'))?.function;
      return { stackId: s.stackId, bytes: s.bytes, allocations: s.allocations, ...(site ? { site } : {}) };
    }),
    ...(r.ended ? { ended: r.ended } : {}),
  };
}

function rss(): { rssKb: number; hwmKb: number } {
  const s = sampleProc(process.pid)!;
  return { rssKb: s.rssKb, hwmKb: s.hwmKb };
}

async function main(): Promise<void> {
  const reply = (r: HostReply) => process.stdout.write(JSON.stringify(r) + '\n');
  const log = createLogger({ verbose: false });
  routeLibbpfLog(createLogger({ verbose: false, write: () => {} }));
  const { config } = loadConfig({ env: process.env });
  const ctx: ProbeContext<MemleakConfig> = { config: config.probes.memleak, interval: config.interval, log, kernel: readKernelInfo(), othersRunning: false };
  const pid = ctx.config.pids[0];
  if (pid === undefined) throw new Error('MEMWATCHER_PROBES_MEMLEAK_PIDS: no target');
  const outcome = loadProbe(memleakProbe as Parameters<typeof loadProbe>[0], ctx);
  if (!outcome.loaded) throw new Error(`memleak did not attach: ${outcome.refused.map((r) => `${r.strategy}: ${r.reason}`).join('; ')}`);
  const obj = outcome.loaded.obj;
  let waiting: ((r: MemleakReport) => void) | undefined;
  const source: ProbeSource = memleakProbe.start(outcome.loaded, ctx, (r: MemleakRecord) => {
    if (r.kind === 'report') waiting?.(r);
  });
  const nextReport = () => new Promise<MemleakReport>((resolve) => { waiting = resolve; });
  // The runtime's tick, with the reports themselves left to the commands (interval: an hour).
  const timer = setInterval(() => source.poll(Date.now()), 200);
  // A poll at a time when the next report is due: an hour of interval apart per forced report.
  let forced = 0;
  const dueNow = () => Date.now() + ++forced * 1e10;
  reply({ event: 'attached', rssKb: rss().rssKb });

  for await (const line of createInterface({ input: process.stdin })) {
    try {
      const cmd = line.trim();
      if (cmd === 'maps') {
        reply({ event: 'maps', maps: mapsHeld(), ...rss() });
      } else if (cmd === 'report') {
        const got = nextReport();
        const t0 = performance.now();
        source.poll(dueNow());
        const t1 = performance.now();
        const r = await got;
        const t2 = performance.now();
        const c = ctx.config;
        const t3 = performance.now();
        snapshotStacks(obj, readStackTotals(obj, new Set([pid]), 0, process.hrtime.bigint()), c.top, false);
        const mapReadMs = performance.now() - t3;
        reply({ event: 'report', pollMs: t1 - t0, totalMs: t2 - t0, mapReadMs, report: summary(r), ...rss() });
      } else if (cmd === 'minage') {
        const t0 = performance.now();
        const totals = readStackTotals(obj, new Set([pid]), 1, process.hrtime.bigint());
        const snap = snapshotStacks(obj, totals, ctx.config.top, false).get(pid);
        const mapReadMs = performance.now() - t0;
        reply({ event: 'minage', mapReadMs, bytes: snap?.totals.bytes ?? 0, allocations: snap?.totals.allocations ?? 0, stacks: snap?.totals.stacks ?? 0, ...rss() });
      } else if (cmd === 'end') {
        clearInterval(timer);
        const got = nextReport();
        process.kill(pid, 'SIGKILL');
        const t0 = performance.now();
        let pollMs = 0;
        let done: MemleakReport | undefined;
        void got.then((r) => { done = r; });
        while (!done) {
          const p0 = performance.now();
          source.poll(Date.now());
          pollMs = Math.max(pollMs, performance.now() - p0);
          await new Promise((r) => setTimeout(r, 5));
          if (performance.now() - t0 > 120_000) throw new Error('no final report within 120 s of the kill');
        }
        reply({ event: 'end', pollMs, totalMs: performance.now() - t0, report: summary(done) });
      } else if (cmd === 'stop') {
        break;
      } else {
        reply({ event: 'error', error: `unknown command ${cmd}` });
      }
    } catch (err) {
      reply({ event: 'error', error: (err as Error).stack ?? String(err) });
    }
  }
  clearInterval(timer);
  source.stop();
  obj.close();
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    process.stdout.write(JSON.stringify({ event: 'error', error: (err as Error).stack ?? String(err) }) + '\n');
    process.exitCode = 1;
  }
}
