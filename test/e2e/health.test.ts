// /healthz and /readyz through the real CLI: ready once every enabled probe attached, 503 with
// the reason when one failed to attach or the backend has been down for health.export_failure_s,
// ready again once it is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, startCli, type CliRun } from '../helpers/cli.ts';
import { startOtlpReceiver } from '../../harness/otlp-receiver.ts';
import { freePort } from '../helpers/prometheus.ts';
import { scaled } from '../../harness/time-scale.ts';

interface Answer { status: number; body: { status: string; reasons: string[]; probes: Record<string, string>; exporters: Record<string, string> } }

async function get(url: string): Promise<Answer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  assert.equal(res.headers.get('content-type'), 'application/json');
  return { status: res.status, body: await res.json() as Answer['body'] };
}

/** Asks until `ok` holds of the answer (the server comes up after start-up); fails with the last one. */
async function until(url: string, ok: (a: Answer) => boolean, cli: CliRun, limitMs = 20_000): Promise<Answer> {
  const end = Date.now() + scaled(limitMs);
  let last: Answer | string = 'no answer';
  while (Date.now() < end) {
    if (cli.child.exitCode !== null) break;
    try {
      last = await get(url);
      if (ok(last)) return last;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${url}: last answer ${JSON.stringify(last)}; stderr:\n${cli.stderr()}`);
}

async function stop(cli: CliRun): Promise<void> {
  if (cli.child.exitCode === null) cli.child.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, cli.stderr());
}

test('on the Prometheus port: /healthz alive, /readyz ready with each probe\'s strategy; only GET and HEAD', async () => {
  const port = await freePort();
  const cli = startCli(['-s', '-p', '--exporter', 'prometheus', '--interval', '0.5'], { MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1', MEMWATCHER_PROMETHEUS_PORT: String(port) });
  try {
    const base = `http://127.0.0.1:${port}`;
    const ready = await until(`${base}/readyz`, (a) => a.status === 200, cli);
    assert.equal(ready.body.status, 'ready');
    assert.deepEqual(ready.body.reasons, []);
    assert.match(ready.body.probes.sysstat!, /^attached \((uprobe|tp_btf|tracepoint|fentry|kprobe)\)$/);
    assert.match(ready.body.probes.pr!, /^attached \(/);
    assert.equal(ready.body.exporters.prometheus, 'serving');
    const alive = await get(`${base}/healthz`);
    assert.equal(alive.status, 200);
    assert.equal(alive.body.status, 'alive');
    assert.equal((await fetch(`${base}/readyz`, { method: 'POST' })).status, 405);
    assert.equal((await fetch(`${base}/readyz`, { method: 'HEAD' })).status, 200);
    assert.equal((await fetch(`${base}/metrics`)).status, 200, '/metrics beside them');
  } finally {
    await stop(cli);
  }
});

test('a probe that fails to attach: /readyz 503 naming it and why, /healthz still 200, the other probe runs', async () => {
  const port = await freePort();
  // kprobes are compiled out of this kernel: sysstat forced onto them cannot attach.
  const cli = startCli(['-s', '-p', '--exporter', 'console', '--interval', '0.5'], {
    MEMWATCHER_PROBES_SYSSTAT_STRATEGY: 'kprobe',
    MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
    MEMWATCHER_HEALTH_PORT: String(port),
  });
  try {
    await cli.waitForOutput(/pr: attached with/);
    const base = `http://127.0.0.1:${port}`;
    const r = await until(`${base}/readyz`, (a) => a.body.probes.pr?.startsWith('attached') === true, cli);
    assert.equal(r.status, 503);
    assert.equal(r.body.status, 'not ready');
    assert.equal(r.body.reasons.length, 1, JSON.stringify(r.body));
    assert.match(r.body.reasons[0]!, /^probe sysstat failed to attach \(kprobe: .*finish_task_switch/);
    assert.equal((await get(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/metrics`)).status, 404, 'no prometheus exporter: health alone on its port');
    // The Dockerfile's HEALTHCHECK command, run as Docker would (its ENV giving the port).
    const argv = JSON.parse(/^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$/m.exec(readFileSync(join(import.meta.dirname, '../../Dockerfile'), 'utf8'))![1]!) as string[];
    const check = spawnSync(process.execPath, argv.slice(1), { env: { MEMWATCHER_HEALTH_PORT: String(port) }, timeout: scaled(10_000) });
    assert.equal(check.status, 0, `HEALTHCHECK exit ${check.status}: ${check.stderr}`);
    const wrong = spawnSync(process.execPath, argv.slice(1), { env: { MEMWATCHER_HEALTH_PORT: String(await freePort()) }, timeout: scaled(10_000) });
    assert.equal(wrong.status, 1, 'and fails where nothing answers');
  } finally {
    await stop(cli);
  }
});

test('the backend down: /readyz 503 once exports have failed for health.export_failure_s, 200 again once it is up', async () => {
  const otlpPort = await freePort();
  const port = await freePort();
  const cli = startCli(['-s', '--exporter', 'otlp', '--interval', '0.5'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
    OTEL_EXPORTER_OTLP_TIMEOUT: '500',
    OTEL_METRIC_EXPORT_INTERVAL: '500',
    MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
    MEMWATCHER_HEALTH_PORT: String(port),
    MEMWATCHER_HEALTH_EXPORT_FAILURE_S: '1',
  });
  const url = `http://127.0.0.1:${port}/readyz`;
  try {
    const down = await until(url, (a) => a.status === 503, cli);
    assert.match(down.body.reasons.join('\n'), /^otlp metrics export failing for \d+ s \(health\.export_failure_s is 1\): .*ECONNREFUSED/m);
    assert.match(down.body.exporters['otlp metrics']!, /^failing for/);
    assert.match(down.body.probes.sysstat!, /^attached/, 'the probes are fine');
    const rx = await startOtlpReceiver({ port: otlpPort });
    try {
      const up = await until(url, (a) => a.status === 200, cli);
      assert.equal(up.body.exporters['otlp metrics'], 'ok');
      assert.ok(rx.metrics().length > 0);
    } finally {
      await stop(cli);
      await rx.close();
    }
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  }
});

test('health.port in use: one line naming health.port, exit 2', async () => {
  const port = await freePort();
  const holder = startCli(['-s', '--exporter', 'none', '--interval', '0.5'], { MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1', MEMWATCHER_HEALTH_PORT: String(port) });
  try {
    await until(`http://127.0.0.1:${port}/healthz`, (a) => a.status === 200, holder);
    const r = await runCli(['-s', '--exporter', 'none', '--duration', '1'], { MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1', MEMWATCHER_HEALTH_PORT: String(port) });
    assert.equal(r.code, 2);
    assert.match(r.stderr.trim(), /^mem-watcher: cannot serve health endpoints on 127\.0\.0\.1:\d+ \(EADDRINUSE\): set health\.port \(MEMWATCHER_HEALTH_PORT\) to a free port$/);
  } finally {
    await stop(holder);
  }
});
