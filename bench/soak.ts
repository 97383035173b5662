// `npm run soak`: mem-watcher for minutes with every probe this tree has, under synthetic memory
// pressure, with its OTLP backend flapping, and its own RSS and CPU sampled throughout.
//   node bench/soak.ts [--minutes N (default 3)] [--sample-seconds S (default 3)] [--json FILE]
//
// Load: a C program that cycles a few hundred MB of malloc'd memory and makes small malloc/free
// pairs (memleak traces it, via --memleak-command), short-lived processes (procstat), and a file
// written, synced, read and deleted in a loop (page cache, dirty and writeback: sysstat, pr).
// Backend: a real OTLP receiver that cycles accept -> 503 with Retry-After -> hang -> accept,
// ending on accept so the final flush lands. Prometheus is scraped meanwhile.
// Verdict: RSS is flat when the median of the last third of the samples (after warm-up) is
// within 10% of the first third's; the live JS heap (after a forced GC) is reported beside it.
// Exit 0 when flat and mem-watcher stopped cleanly, 1 otherwise. Not part of `npm test`.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, fsyncSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeNamed } from '../src/app/registry.ts';
import { startOtlpReceiver, type OtlpMetric, type ReceiverBehaviour } from '../harness/otlp-receiver.ts';
import { freePort } from '../harness/ports.ts';
import { ROOT } from '../harness/cbuild.ts';
import { cpuFraction, sampleProc, type ProcSample } from './lib/proc.ts';
import { median, sleep } from '../harness/stats.ts';

interface Options { minutes: number; sampleSeconds: number; json?: string }

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: 3, sampleSeconds: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} takes a positive number`);
      return v;
    };
    if (a === '--minutes') o.minutes = value();
    else if (a === '--sample-seconds') o.sampleSeconds = value();
    else if (a === '--json') o.json = argv[++i];
    else throw new Error(`unknown argument ${a} (use --minutes N, --sample-seconds S, --json FILE)`);
  }
  return o;
}

const PRESSURE_C = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* pressure MB: cycles MB megabytes of malloc'd, touched memory; small malloc/free pairs
 * between steps (for memleak); a few short-lived children a second (for procstat). Runs until
 * killed. */
static void *volatile leaked;
int main(int argc, char **argv) {
  long mb = argc > 1 ? atol(argv[1]) : 256;
  char **blocks = calloc(mb, sizeof(char *));
  for (unsigned long round = 0;; round++) {
    for (long i = 0; i < mb; i++) {
      blocks[i] = malloc(1 << 20);
      if (blocks[i]) memset(blocks[i], (int)(round + i), 1 << 20);
      for (int k = 0; k < 200; k++) { void *p = malloc(16 + (k & 127)); free(p); }
      if (i % 16 == 0) {
        pid_t c = fork();
        if (c == 0) { char *q = malloc(64 << 10); if (q) memset(q, 1, 64 << 10); usleep(5000); _exit(0); }
        if (c > 0) waitpid(c, NULL, 0);
        usleep(20000);
      }
    }
    for (long i = 0; i < mb; i++) free(blocks[i]);
    if (round % 4 == 3) leaked = malloc(4096); /* a small leak, for memleak to report */
    usleep(200000);
  }
}
`;

const HEAP_PROBE = `process.on('SIGUSR2', () => { globalThis.gc(); process.stderr.write('heap-used ' + process.memoryUsage().heapUsed + '\\n'); });`;

/** The backend's schedule: what it does in each phase of PHASE_MS. */
const PHASES: ReceiverBehaviour[] = ['accept', { status: 503, retryAfterSeconds: 2 }, 'hang', 'accept', { status: 429 }];
const PHASE_MS = 20_000;

interface Sample { t: number; rssKb: number; cpu: number; backend: string; requests: number; dropped: Record<string, number> }

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const durationMs = opts.minutes * 60_000;
  const dir = mkdtempSync(join(tmpdir(), 'mw-soak-'));
  writeFileSync(join(dir, 'pressure.c'), PRESSURE_C);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'pressure'), join(dir, 'pressure.c')]);
  writeFileSync(join(dir, 'heap-probe.mjs'), HEAP_PROBE);
  const availableKb = Number(/^MemAvailable:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 1 << 20);
  const pressureMb = Math.max(64, Math.min(512, Math.floor(availableKb / 1024 / 4)));

  const rx = await startOtlpReceiver();
  const promPort = await freePort();
  const flags: Record<string, string> = { procstat: '-r', sysstat: '-s', paf: '-a', pr: '-p' };
  const probes = Object.keys(flags).filter((p) => probeNamed(p) !== undefined);
  const withMemleak = probeNamed('memleak') !== undefined;
  const args = [
    ...probes.map((p) => flags[p]!),
    ...(withMemleak ? ['--memleak-command', `${join(dir, 'pressure')} ${pressureMb}`] : []),
    '--exporter', 'otlp', '--exporter', 'prometheus', '--exporter', 'console', '--interval', '1',
  ];
  const out = openSync(join(dir, 'console.log'), 'w');
  const agent = spawn(join(ROOT, 'bin/mem-watcher'), args, {
    stdio: ['ignore', out, 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      OTEL_METRIC_EXPORT_INTERVAL: '2000',
      MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
      MEMWATCHER_PROMETHEUS_PORT: String(promPort),
      NODE_OPTIONS: `--expose-gc --import=${join(dir, 'heap-probe.mjs')}`,
    },
  });
  closeSync(out);
  let stderr = '';
  agent.stderr!.on('data', (d: Buffer) => { stderr += d; if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19)); });
  const exited = new Promise<number | null>((r) => agent.on('exit', (code) => r(code)));
  const heap = async (): Promise<number | undefined> => {
    const before = stderr.match(/heap-used \d+/g)?.length ?? 0;
    agent.kill('SIGUSR2');
    for (let i = 0; i < 50; i++) {
      const all = [...stderr.matchAll(/heap-used (\d+)/g)];
      if (all.length > before) return Number(all.at(-1)![1]);
      await sleep(100);
    }
    return undefined;
  };

  process.stdout.write(`soak: ${opts.minutes} min, probes ${[...probes, ...(withMemleak ? ['memleak'] : [])].join(', ')}, pressure ${pressureMb} MB, backend cycling ${PHASES.map(describe).join(' -> ')} every ${PHASE_MS / 1000} s\n`);
  const deadline = Date.now() + 30_000;
  while (!/attached with/.test(stderr)) {
    if (Date.now() > deadline || agent.exitCode !== null) throw new Error(`mem-watcher did not start:\n${stderr.slice(-2000)}`);
    await sleep(200);
  }

  // Page cache churn beside the memory pressure.
  let churning = true;
  const cacheChurn = (async () => {
    const file = join(dir, 'cache.bin');
    const chunk = Buffer.alloc(1 << 20, 7);
    while (churning) {
      const fd = openSync(file, 'w');
      for (let i = 0; i < 64 && churning; i++) writeSync(fd, chunk);
      fsyncSync(fd);
      closeSync(fd);
      readFileSync(file);
      rmSync(file, { force: true });
      await sleep(500);
    }
  })();

  const samples: Sample[] = [];
  const start = Date.now();
  const warmupMs = Math.max(30_000, durationMs * 0.15);
  let prev: ProcSample | undefined = sampleProc(agent.pid!);
  let heapFirst: number | undefined;
  let scrapes = 0;
  let scrapeFailures = 0;
  let phase = -1;
  while (Date.now() - start < durationMs && agent.exitCode === null) {
    const elapsed = Date.now() - start;
    // The last phase is always accept: the final flush must land to read the counters.
    const p = durationMs - elapsed < PHASE_MS ? 0 : Math.floor(elapsed / PHASE_MS) % PHASES.length;
    if (p !== phase) {
      phase = p;
      rx.setBehaviour(PHASES[p]!);
    }
    await sleep(opts.sampleSeconds * 1000);
    const now = sampleProc(agent.pid!);
    if (!now || !prev) break;
    try {
      const res = await fetch(`http://127.0.0.1:${promPort}/metrics`, { signal: AbortSignal.timeout(3000) });
      await res.text();
      if (res.ok) scrapes++;
      else scrapeFailures++;
    } catch {
      scrapeFailures++;
    }
    const s: Sample = { t: (Date.now() - start) / 1000, rssKb: now.rssKb, cpu: cpuFraction(prev, now), backend: describe(PHASES[phase]!), requests: rx.requests.total, dropped: byProbe(rx.metrics(), 'memwatcher.events.dropped') };
    samples.push(s);
    prev = now;
    if (heapFirst === undefined && Date.now() - start >= warmupMs) heapFirst = await heap();
    process.stdout.write(`t=${s.t.toFixed(0).padStart(5)}s  rss=${(s.rssKb / 1024).toFixed(1).padStart(7)} MB  cpu=${(s.cpu * 100).toFixed(1).padStart(5)}%  backend=${s.backend.padEnd(8)}  otlp requests=${String(s.requests).padStart(4)}  dropped (as last exported) ${Object.entries(s.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(' ') || '0'}\n`);
  }
  const heapLast = agent.exitCode === null ? await heap() : undefined;
  churning = false;
  await cacheChurn;

  const crashed = agent.exitCode !== null;
  agent.kill('SIGINT');
  const stopTimer = setTimeout(() => agent.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(stopTimer);
  await sleep(500);

  const settled = samples.filter((s) => s.t * 1000 >= warmupMs);
  const third = Math.max(1, Math.floor(settled.length / 3));
  const firstMedian = median(settled.slice(0, third).map((s) => s.rssKb));
  const lastMedian = median(settled.slice(-third).map((s) => s.rssKb));
  const flat = settled.length >= 3 && lastMedian <= firstMedian * 1.1;
  const metrics = rx.metrics();
  const summary = {
    minutes: opts.minutes,
    probes: [...probes, ...(withMemleak ? ['memleak'] : [])],
    samples: samples.length,
    warmupSeconds: warmupMs / 1000,
    rssMb: { first: mb(samples[0]?.rssKb), firstThirdMedian: mb(firstMedian), lastThirdMedian: mb(lastMedian), max: mb(Math.max(...samples.map((s) => s.rssKb))) },
    rssGrowth: Number.isFinite(firstMedian) ? `${(((lastMedian - firstMedian) / firstMedian) * 100).toFixed(1)}%` : '-',
    rssFlat: flat,
    liveHeapMb: { afterWarmup: mbBytes(heapFirst), atEnd: mbBytes(heapLast) },
    cpuPercent: { mean: pct(settled.reduce((a, s) => a + s.cpu, 0) / Math.max(1, settled.length)), max: pct(Math.max(...samples.map((s) => s.cpu))) },
    eventsReceived: byProbe(metrics, 'memwatcher.events.received'),
    eventsDropped: byProbe(metrics, 'memwatcher.events.dropped'),
    spansDropped: lastValue(metrics, 'memwatcher.telemetry.dropped'),
    otlp: { requests: rx.requests.total, accepted: rx.requests.log.filter((r) => r.accepted).length },
    prometheusScrapes: { ok: scrapes, failed: scrapeFailures },
    exitCode: code,
    crashed,
  };
  process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ summary, samples }, null, 2));
  const ok = flat && !crashed && code === 0;
  process.stdout.write(ok
    ? `soak: OK: RSS flat (${summary.rssGrowth} from the first to the last third), clean stop\n`
    : `soak: FAILED: ${[!flat && `RSS grew ${summary.rssGrowth}`, crashed && 'mem-watcher died during the run', code !== 0 && `exit code ${code}`].filter(Boolean).join(', ')}\n${stderr.slice(-3000)}\n`);
  await rx.close();
  rmSync(dir, { recursive: true, force: true });
  return ok ? 0 : 1;
}

function describe(b: ReceiverBehaviour): string {
  return typeof b === 'string' ? b : `${b.status}${b.retryAfterSeconds ? `+RA${b.retryAfterSeconds}` : ''}`;
}

function mb(kb: number | undefined): number | undefined {
  return kb === undefined || !Number.isFinite(kb) ? undefined : Math.round(kb / 102.4) / 10;
}

function mbBytes(b: number | undefined): number | undefined {
  return b === undefined ? undefined : Math.round(b / 104857.6) / 10;
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-';
}

function lastValue(metrics: OtlpMetric[], name: string): number | undefined {
  return metrics.filter((m) => m.name === name).flatMap((m) => m.points).at(-1)?.value;
}

function byProbe(metrics: OtlpMetric[], name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of metrics.filter((m) => m.name === name).flatMap((m) => m.points)) out[String(p.attributes['memwatcher.probe'])] = p.value ?? 0;
  return out;
}

process.exitCode = await main();
