// The SDK specification's variables beyond endpoints and protocols, through the real CLI into a
// real OTLP receiver: each test would fail were its variable ignored.
import { test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from '../helpers/cli.ts';
import { startOtlpReceiver } from '../../harness/otlp-receiver.ts';
import { freePort } from '../helpers/prometheus.ts';

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, text: await res.text() };
}

test('OTEL_SDK_DISABLED=true: nothing is exported over OTLP nor served on /metrics; probes, console and /readyz carry on', async () => {
  const rx = await startOtlpReceiver();
  const port = await freePort();
  const cli = startCli(['-s', '--exporter', 'otlp', '--exporter', 'prometheus', '--exporter', 'console', '--interval', '0.5'], {
    OTEL_SDK_DISABLED: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_METRIC_EXPORT_INTERVAL: '500',
    MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
    MEMWATCHER_PROMETHEUS_PORT: String(port),
  });
  try {
    await cli.waitForOutput(/ACTIVE.*\n(.*\n){2}/); // three console reports: several export periods
    assert.equal((await get(`http://127.0.0.1:${port}/metrics`)).status, 404, '/metrics is not served');
    const ready = await get(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200, ready.text);
    assert.match(JSON.parse(ready.text).exporters.opentelemetry, /disabled/);
    cli.child.kill('SIGTERM');
    assert.equal((await cli.exited).code, 0, cli.stderr());
    assert.match(cli.stderr(), /sdk\.disabled: no OpenTelemetry export/);
    assert.equal(rx.requests.total, 0, 'no export reached the receiver, not even the final flush');
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await rx.close();
  }
});

test('OTEL_LOG_LEVEL: error keeps export errors and drops info and warnings; debug adds debug lines; none is silent; a bad value exits 2', async () => {
  const down = `http://127.0.0.1:${await freePort()}`;
  const args = ['-s', '--exporter', 'otlp', '--interval', '0.5', '--duration', '3'];
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: down, OTEL_EXPORTER_OTLP_TIMEOUT: '500', OTEL_METRIC_EXPORT_INTERVAL: '500' };
  const error = await runCli(args, { ...env, OTEL_LOG_LEVEL: 'error' });
  assert.equal(error.code, 0, error.stderr);
  assert.match(error.stderr, /^mem-watcher error: otel: .*ECONNREFUSED/m, 'the SDK\'s export error is logged');
  assert.doesNotMatch(error.stderr, /^mem-watcher (info|warn|debug):/m, 'nothing below error');
  const debug = await runCli(args, { ...env, OTEL_LOG_LEVEL: 'DEBUG' });
  assert.equal(debug.code, 0, debug.stderr);
  assert.match(debug.stderr, /^mem-watcher debug: /m);
  assert.match(debug.stderr, /^mem-watcher info: sysstat: attached/m);
  const none = await runCli(args, { ...env, OTEL_LOG_LEVEL: 'none' });
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stderr, '');
  const bad = await runCli(args, { ...env, OTEL_LOG_LEVEL: 'loud' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr.trim(), /^mem-watcher: log\.level \(from OTEL_LOG_LEVEL\) must be one of the possible values: .*$/);
});

test('OTEL_EXPORTER_OTLP_METRICS_TIMEOUT bounds one request, and OTEL_METRIC_EXPORT_TIMEOUT the whole export, each below the general timeout', async () => {
  const children: ChildProcess[] = []; // killed whatever happens: a failed wait must not leave the file running
  const rx = await startOtlpReceiver();
  rx.setBehaviour('hang');
  const args = ['-s', '--exporter', 'otlp', '--interval', '0.5'];
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_TIMEOUT: '60000', OTEL_METRIC_EXPORT_INTERVAL: '2000' };
  try {
    // The request gives up after 400 ms: the exporter's own timeout, not the reader's 2000.
    const perRequest = startCli(args, { ...env, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '400', OTEL_METRIC_EXPORT_TIMEOUT: '2000' });
    children.push(perRequest.child);
    await perRequest.waitForOutput(/otel: cannot export metrics to \S+: no answer within 400 ms \(timed out\)/, 20_000);
    assert.doesNotMatch(perRequest.stderr(), /within (2000|60000) ms/, perRequest.stderr());
    await rx.close(); // drops the hanging requests, so the stop's flush ends at once
    perRequest.child.kill('SIGTERM');
    assert.equal((await perRequest.exited).code, 0, perRequest.stderr());

    const rx2 = await startOtlpReceiver();
    rx2.setBehaviour('hang');
    try {
      const whole = startCli(args, { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: rx2.url, OTEL_METRIC_EXPORT_TIMEOUT: '300' });
      children.push(whole.child);
      await whole.waitForOutput(/otel: cannot export metrics to \S+: no answer within 300 ms \(timed out\)/, 20_000);
      await rx2.close();
      whole.child.kill('SIGTERM');
      assert.equal((await whole.exited).code, 0, whole.stderr());
    } finally {
      await rx2.close();
    }
  } finally {
    await rx.close();
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }
});

// A process holding 6 MiB for a moment: memleak reports it (memleak.report and memleak.stack spans) when it exits.
function holder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mw-otel-env-'));
  const file = join(dir, 'hold.py');
  writeFileSync(file, 'import time\nheld = [bytearray(1 << 20) for _ in range(6)]\ntime.sleep(1.5)\n');
  return file;
}

test('span limits and batch size: OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, OTEL_ATTRIBUTE_COUNT_LIMIT and OTEL_BSP_MAX_EXPORT_BATCH_SIZE shape what arrives', async () => {
  const rx = await startOtlpReceiver();
  try {
    const file = holder();
    const r = await runCli(['--memleak-command', `/usr/bin/python3 ${file}`, '--exporter', 'otlp', '--interval', '0.5'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '24',
      OTEL_ATTRIBUTE_COUNT_LIMIT: '3',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1',
    }, 60_000);
    assert.equal(r.code, 0, r.stderr);
    const spans = rx.spans();
    assert.ok(spans.some((s) => s.name === 'memleak.stack'), `memleak.stack spans arrived: ${spans.map((s) => s.name).join(', ')}`);
    for (const s of spans) {
      assert.ok(Object.keys(s.attributes).length <= 3, `${s.name} has ${Object.keys(s.attributes).length} attributes`);
      for (const [k, v] of Object.entries(s.attributes)) if (typeof v === 'string') assert.ok(v.length <= 24, `${s.name} ${k} is ${v.length} characters`);
    }
    const traceRequests = rx.requests.log.filter((q) => q.path === '/v1/traces' && q.accepted);
    assert.ok(traceRequests.length >= 2 && traceRequests.every((q) => q.items === 1), `one span per request: ${traceRequests.map((q) => q.items).join(', ')}`);
  } finally {
    await rx.close();
  }
});

test('OTEL_BSP_EXPORT_TIMEOUT bounds a span export, and OTEL_EXPORTER_OTLP_TRACES_TIMEOUT one traces request', async () => {
  for (const [env, expect] of [
    [{ OTEL_BSP_EXPORT_TIMEOUT: '700' }, /otel: cannot export traces to \S+: no answer within 700 ms \(timed out\)/],
    [{ OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '300', OTEL_BSP_EXPORT_TIMEOUT: '30000' }, /otel: cannot export traces to \S+: no answer within 300 ms \(timed out\)/],
  ] as const) {
    const rx = await startOtlpReceiver();
    rx.setBehaviour('hang');
    const cli = startCli(['--memleak-command', `/usr/bin/python3 ${holder()}`, '-s', '--exporter', 'otlp', '--interval', '0.5'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_EXPORTER_OTLP_TIMEOUT: '60000',
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      ...env,
    });
    try {
      await rx.waitFor(() => rx.requests.log.some((q) => q.path === '/v1/traces'), 30_000);
      await cli.waitForOutput(expect, 20_000);
      assert.doesNotMatch(cli.stderr(), /within (61000|31000|60000|30000) ms/);
    } finally {
      await rx.close();
      if (cli.child.exitCode === null) cli.child.kill('SIGTERM');
      await cli.exited;
    }
  }
});

test('OTEL_BSP_SCHEDULE_DELAY: spans wait in the queue for the delay (here an hour), and the stop\'s flush still delivers them', async () => {
  const rx = await startOtlpReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'mw-otel-env-'));
  writeFileSync(join(dir, 'hold.py'), 'import sys\nheld = [bytearray(1 << 20) for _ in range(6)]\nprint("held", flush=True)\nsys.stdin.readline()\n');
  const { spawn } = await import('node:child_process');
  const target = spawn('/usr/bin/python3', [join(dir, 'hold.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => target.stdout!.on('data', (d: Buffer) => { if (String(d).includes('held')) resolve(); }));
  const cli = startCli(['-l', String(target.pid), '--exporter', 'otlp', '--exporter', 'console', '--interval', '0.5'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_BSP_SCHEDULE_DELAY: '3600000',
  });
  try {
    // Four reports, each with its spans queued: with the default delay (the interval here) they would have gone.
    await cli.waitForOutput(/(pid \d+ \(python3\)[^\n]*\n[\s\S]*){4}/, 30_000);
    assert.equal(rx.requests.log.filter((q) => q.path === '/v1/traces').length, 0, 'no span export before the delay');
    cli.child.kill('SIGTERM');
    assert.equal((await cli.exited).code, 0, cli.stderr());
    assert.ok(rx.spans().some((s) => s.name === 'memleak.report' && s.attributes['process.pid'] === target.pid), 'the queued spans arrive at the stop');
  } finally {
    target.kill('SIGKILL');
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await rx.close();
  }
});
