// A real Prometheus server for tests: Debian's `prometheus` binary, spawned on its own free
// port with a temporary config and TSDB, so it never is (nor talks to) a system-wide instance.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../harness/ports.ts';

export { freePort };

export interface PrometheusOptions {
  /** host:port pairs to scrape, e.g. ['127.0.0.1:9464'] */
  targets: string[];
  /** scrape (and evaluation) interval, default 1 */
  scrapeIntervalSeconds?: number;
  /** default '/metrics' */
  metricsPath?: string;
  /** default 'memwatcher' (becomes the `job` label) */
  jobName?: string;
  /** how long to wait for /-/ready, default 20 s */
  readyTimeoutMs?: number;
  /** the binary; default $PROMETHEUS_BIN, else `prometheus` on PATH */
  binary?: string;
}

/** One sample of an instant vector, with the value parsed. */
export interface PromSample {
  labels: Record<string, string>;
  value: number;
  /** seconds since the epoch */
  timestamp: number;
}

export interface PromTarget {
  scrapeUrl: string;
  health: string;
  lastError: string;
}

export interface Prometheus {
  /** e.g. http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** the temp dir holding prometheus.yml and the tsdb */
  readonly dir: string;
  /** an instant query (/api/v1/query); throws unless it yields a vector */
  query(promql: string): Promise<PromSample[]>;
  /** polls query() until it returns at least one sample; default timeout 20 s */
  waitForSeries(promql: string, timeoutMs?: number): Promise<PromSample[]>;
  /** the active scrape targets (/api/v1/targets) */
  targets(): Promise<PromTarget[]>;
  /** prometheus' own log lines (stderr), for failure messages */
  logs(): string;
  /** kills the server and removes its temp dir */
  stop(): Promise<void>;
}

function findBinary(explicit: string | undefined): string {
  const candidates = explicit !== undefined
    ? [explicit]
    : process.env['PROMETHEUS_BIN']
      ? [process.env['PROMETHEUS_BIN']]
      : [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'prometheus')), '/usr/bin/prometheus'];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // try the next one
    }
  }
  throw new Error('prometheus is not installed: run `apt-get install prometheus` (or scripts/setup.sh --test)');
}

/** A port that was free a moment ago (the OS picks it; a race with other processes is possible). */

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${body.slice(0, 300)}`);
  return JSON.parse(body) as unknown;
}

interface ApiResponse {
  status?: string;
  error?: string;
  data?: unknown;
}

async function api(base: string, path: string): Promise<unknown> {
  const r = (await getJson(base + path)) as ApiResponse;
  if (r.status !== 'success') throw new Error(`prometheus ${path}: ${r.error ?? 'failed'}`);
  return r.data;
}

function configYaml(o: PrometheusOptions): string {
  const interval = `${o.scrapeIntervalSeconds ?? 1}s`;
  // JSON is valid YAML: no YAML library needed
  return JSON.stringify({
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    scrape_configs: [{
      job_name: o.jobName ?? 'memwatcher',
      metrics_path: o.metricsPath ?? '/metrics',
      static_configs: [{ targets: o.targets }],
    }],
  }, null, 2);
}

interface Started {
  child: ChildProcess;
  port: number;
}

export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  const binary = findBinary(options.binary);
  const dir = mkdtempSync(join(tmpdir(), 'memwatcher-prom-'));
  const configFile = join(dir, 'prometheus.yml');
  const tsdb = join(dir, 'tsdb');
  writeFileSync(configFile, configYaml(options));

  let log = '';
  const logs = (): string => log;
  let current: ChildProcess | undefined;
  const killOnExit = (): void => {
    current?.kill('SIGKILL');
  };

  const spawnOnce = async (): Promise<Started> => {
    const port = await freePort();
    const child = spawn(binary, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${tsdb}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    current = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      log = (log + s).slice(-20_000);
    });
    return { child, port };
  };

  /** Resolves when this child answers /-/ready, rejects if it exits first or times out. */
  const ready = async (s: Started, deadline: number): Promise<void> => {
    const base = `http://127.0.0.1:${s.port}`;
    for (let ok = false; !ok; ) {
      if (s.child.exitCode !== null || s.child.signalCode !== null) {
        throw new Error(`prometheus exited (${s.child.exitCode ?? s.child.signalCode}): ${log.trim().split('\n').slice(-3).join(' | ')}`);
      }
      if (Date.now() >= deadline) throw new Error(`prometheus not ready on ${base} in time: ${log.trim().slice(-500)}`);
      try {
        const res = await fetch(base + '/-/ready', { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        ok = res.ok;
      } catch {
        // not listening yet
      }
      if (!ok) await sleep(100);
    }
    // make sure we talk to the server we spawned, not some other Prometheus on that port
    const flags = (await api(base, '/api/v1/status/flags')) as Record<string, string>;
    if (flags['storage.tsdb.path'] !== tsdb) {
      throw new Error(`the Prometheus on ${base} is not ours (tsdb ${flags['storage.tsdb.path'] ?? '?'})`);
    }
  };

  /** A port chosen free can be taken before prometheus binds it: retry with another. */
  const startWithRetries = async (deadline: number): Promise<Started> => {
    for (let attempt = 1; ; attempt++) {
      const started = await spawnOnce();
      try {
        await ready(started, deadline);
        return started;
      } catch (err) {
        started.child.kill('SIGKILL');
        if (attempt >= 3 || !/address already in use|not ours/.test(`${(err as Error).message} ${log}`)) throw err;
      }
    }
  };

  process.once('exit', killOnExit);
  let started: Started;
  try {
    started = await startWithRetries(Date.now() + (options.readyTimeoutMs ?? 20_000));
  } catch (err) {
    process.off('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const { child, port } = started;
  const url = `http://127.0.0.1:${port}`;

  const query = async (promql: string): Promise<PromSample[]> => {
    const data = (await api(url, `/api/v1/query?query=${encodeURIComponent(promql)}`)) as { resultType: string; result: unknown };
    if (data.resultType !== 'vector') throw new Error(`prometheus query ${promql}: a ${data.resultType}, not a vector`);
    const result = data.result as { metric: Record<string, string>; value: [number, string] }[];
    return result.map((r) => ({ labels: r.metric, value: Number(r.value[1]), timestamp: r.value[0] }));
  };

  const targets = async (): Promise<PromTarget[]> => {
    const data = (await api(url, '/api/v1/targets?state=active')) as { activeTargets: PromTarget[] };
    return data.activeTargets.map((t) => ({ scrapeUrl: t.scrapeUrl, health: t.health, lastError: t.lastError }));
  };

  return {
    url,
    port,
    dir,
    query,
    targets,
    logs,
    async waitForSeries(promql: string, timeoutMs = 20_000): Promise<PromSample[]> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const samples = await query(promql);
        if (samples.length > 0) return samples;
        if (Date.now() >= until) {
          const t = await targets().catch((e: unknown) => String(e));
          throw new Error(`prometheus: no series for ${promql} after ${timeoutMs} ms; targets: ${JSON.stringify(t)}`);
        }
        await sleep(250);
      }
    },
    async stop(): Promise<void> {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
