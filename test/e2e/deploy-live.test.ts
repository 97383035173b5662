// The deployment pieces against a real run: a process in a cgroup named as a container
// runtime names it carries that container.id over OTLP, and every PromQL query of the Grafana
// dashboard, run by a real Prometheus scraping a real mem-watcher, is valid and returns data
// whenever the run exported the metric it reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startOtlpReceiver } from '../../harness/otlp-receiver.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { freePort, startPrometheus } from '../helpers/prometheus.ts';

/** A cgroup v1 (pids controller) or v2 directory named like Docker's, holding `pid`. */
function dockerLikeCgroup(pid: number): { id: string; remove(): void } {
  const id = randomBytes(32).toString('hex');
  const v1 = '/sys/fs/cgroup/pids';
  const base = existsSync(join(v1, 'cgroup.procs')) ? v1 : '/sys/fs/cgroup';
  const dir = join(base, 'docker', id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  return {
    id,
    remove() {
      try { writeFileSync(join(base, 'cgroup.procs'), String(pid)); } catch { /* exited */ }
      try { rmdirSync(dir); rmdirSync(join(base, 'docker')); } catch { /* other containers' dirs stay */ }
    },
  };
}

test('a process in a container cgroup: its per-process data points carry container.id', async () => {
  // A process holding 64 MiB, so it is among the top processes, then sleeping.
  const holder = spawn(process.execPath, ['-e', 'globalThis.b = Buffer.alloc(64 << 20, 1); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const cg = dockerLikeCgroup(holder.pid!);
  const rx = await startOtlpReceiver();
  try {
    assert.match(readFileSync(`/proc/${holder.pid}/cgroup`, 'utf8'), new RegExp(`/docker/${cg.id}`));
    const r = await runCli(['-r', '--pid', String(holder.pid), '--exporter', 'otlp', '--interval', '1', '--duration', '4'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
    assert.equal(r.code, 0, r.stderr);
    const usage = rx.metrics().filter((m) => m.name === 'process.memory.usage').flatMap((m) => m.points);
    const ours = usage.filter((p) => p.attributes['process.pid'] === holder.pid);
    assert.ok(ours.length > 0, `no process.memory.usage point for pid ${holder.pid}`);
    for (const p of ours) assert.equal(p.attributes['container.id'], cg.id);
    const hostProcess = usage.find((p) => p.attributes['process.pid'] !== holder.pid && p.attributes['container.id'] === undefined);
    assert.ok(hostProcess, 'processes outside containers carry no container.id');
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    cg.remove();
    await rx.close();
  }
});

interface Panel { title?: string; panels?: Panel[]; targets?: Array<{ expr?: string }> }

function dashboardQueries(): Array<{ panel: string; expr: string }> {
  const dash = JSON.parse(readFileSync(join(import.meta.dirname, '../../deploy/grafana/dashboards/mem-watcher.json'), 'utf8')) as Panel;
  const out: Array<{ panel: string; expr: string }> = [];
  const walk = (p: Panel) => {
    for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? '?', expr: t.expr });
    for (const c of p.panels ?? []) walk(c);
  };
  walk(dash);
  return out;
}

/** Grafana's variables as the dashboard's defaults resolve them. */
function resolveVariables(expr: string): string {
  return expr.replaceAll('$__rate_interval', '20s').replaceAll('$__range', '5m').replaceAll('$topn', '10').replaceAll('"$host"', '".*"').replaceAll('$host', '.*');
}

test('the Grafana dashboard: every query is valid PromQL and returns data for what the run exported', async () => {
  const port = await freePort();
  const leaker = spawn(process.execPath, ['-e', 'const k = []; setInterval(() => k.push(Buffer.alloc(65536, 1)), 50)'], { stdio: 'ignore' });
  const cli = startCli(['-s', '-r', '-a', '-p', '-l', String(leaker.pid), '--exporter', 'prometheus', '--interval', '1', '--duration', '60'], {
    MEMWATCHER_PROMETHEUS_PORT: String(port),
    MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
  });
  const prom = await startPrometheus({ targets: [`127.0.0.1:${port}`], scrapeIntervalSeconds: 1 });
  try {
    await cli.waitForOutput(/memleak: attached/, 20_000);
    await prom.waitForSeries('memwatcher_probe_attached', 30_000);
    await new Promise((r) => setTimeout(r, 6000)); // a few scrapes, so rate() and increase() have two samples
    const exported = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const queries = dashboardQueries();
    assert.ok(queries.length >= 10, `${queries.length} queries in the dashboard`);
    const empty: string[] = [];
    const withData = new Set<string>();
    for (const q of queries) {
      const expr = resolveVariables(q.expr);
      const samples = await prom.query(expr); // throws on invalid PromQL
      const names = [...expr.matchAll(/(memwatcher_[a-z_]+|process_memory_[a-z_]+|system_memory_linux_[a-z_]+)/g)].map((m) => m[1]!.replace(/\(.*$/, ''));
      const wanted = names.filter((n) => new RegExp(`^${n}(_bytes|_seconds)?(_total|_bucket)?\\{`, 'm').test(exported));
      if (samples.length === 0 && wanted.length > 0) empty.push(`${q.panel}: ${expr}`);
      if (samples.length > 0) withData.add(q.panel);
    }
    for (const panel of ['Memory by LRU list', 'Top processes by RSS', 'Outstanding leaked bytes per process', 'Probes attached', 'Events received and dropped per second']) {
      assert.ok(withData.has(panel), `panel "${panel}" shows nothing`);
    }
    assert.deepEqual(empty, [], 'queries that returned nothing although mem-watcher exported their metric');
  } finally {
    cli.child.kill('SIGINT');
    await cli.exited;
    leaker.kill('SIGKILL');
    await prom.stop();
  }
});
