// Fault injection on the telemetry backend: refusing, answering 503/429, hanging, or speaking
// the wrong TLS. Throughout, the probe keeps running, the console and the Prometheus endpoint
// keep serving, retries follow the OTLP spec's backoff, spans wait in a bounded queue (oldest
// dropped and counted), and export resumes on its own once the backend is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOtlpReceiver, type OtlpReceiver } from '../../harness/otlp-receiver.ts';
import { startCli, type CliRun } from '../helpers/cli.ts';
import { freePort } from '../helpers/prometheus.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 200);
  return res.text();
}

/** The warnings mem-watcher logged: each one line, never a stack trace. */
function assertOneLineWarnings(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at |"stack"|\\n\s*at /, `no stack traces in the log:\n${stderr}`);
  for (const line of stderr.split('\n').filter(Boolean)) assert.match(line, /^mem-watcher (info|warn|debug|error): /, `every line is a log line: ${line}`);
}

async function stop(cli: CliRun, limitMs = 5000): Promise<void> {
  const t0 = Date.now();
  cli.child.kill('SIGTERM');
  const { code } = await cli.exited;
  assert.equal(code, 0, cli.stderr());
  assert.ok(Date.now() - t0 < limitMs, `stop took ${Date.now() - t0} ms with the backend in trouble`);
}

function metricRequests(rx: OtlpReceiver) {
  return rx.requests.log.filter((r) => r.path === '/v1/metrics');
}

test('backend refusing, then up on its port: console and Prometheus serve throughout, export resumes without restart', async () => {
  const otlpPort = await freePort();
  const promPort = await freePort();
  const cli = startCli(['-s', '--exporter', 'otlp', '--exporter', 'prometheus', '--exporter', 'console', '--interval', '0.5'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
    OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
    MEMWATCHER_PROMETHEUS_PORT: String(promPort),
  });
  let rx: OtlpReceiver | undefined;
  try {
    await cli.waitForOutput(/ACTIVE.*\n\s+\d+/);
    await cli.waitForOutput(/otel: .*ECONNREFUSED/);
    // Plain words: which backend, why, and that nothing is held up; once, not per export.
    const url = `http://127.0.0.1:${otlpPort}/v1/metrics`;
    assert.match(cli.stderr(), new RegExp(`otel: cannot export metrics to ${url}: connection refused \\(ECONNREFUSED\\): nothing listens there; the probes carry on and the next export sends the totals again`));
    await sleep(2500); // two or three more refused exports
    assert.equal(cli.stderr().split('\n').filter((l) => /ECONNREFUSED/.test(l)).length, 1, `logged once, not per export:\n${cli.stderr()}`);
    assert.match(await scrape(promPort), /memwatcher_system_memory_lru\{/, 'Prometheus serves during the outage');
    rx = await startOtlpReceiver({ port: otlpPort });
    const back = Date.now();
    await rx.waitFor(() => rx!.metrics().some((m) => m.name === 'memwatcher.system.memory.lru'), 10_000);
    assert.ok(Date.now() - back < 10_000);
    assert.match(await scrape(promPort), /memwatcher_system_memory_lru\{/);
    assertOneLineWarnings(cli.stderr());
    await stop(cli);
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await rx?.close();
  }
});

test('unknown backend host, over HTTP and gRPC: the log names the endpoint and ENOTFOUND (not a timeout), the probe carries on', async () => {
  // Exports 2 s apart, each given 2 s: time enough for the name lookup to fail on its own.
  const env = { OTEL_EXPORTER_OTLP_TIMEOUT: '2000', OTEL_METRIC_EXPORT_INTERVAL: '2000' };
  const args = ['-s', '--exporter', 'otlp', '--exporter', 'console', '--interval', '0.5'];
  const http = startCli(args, { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://no-such-collector.invalid:4318' });
  const grpc = startCli(args, { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://no-such-collector.invalid:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
  try {
    await http.waitForOutput(/otel: cannot export metrics to http:\/\/no-such-collector\.invalid:4318\/v1\/metrics: unknown host \(ENOTFOUND\)/, 15_000);
    await grpc.waitForOutput(/otel: cannot export metrics to http:\/\/no-such-collector\.invalid:4317: unknown host \(ENOTFOUND\)/, 15_000);
    for (const cli of [http, grpc]) {
      await cli.waitForOutput(/ACTIVE.*\n\s+\d+/);
      assert.doesNotMatch(cli.stderr(), /timed out/, 'the cause, not a timeout');
      assertOneLineWarnings(cli.stderr());
    }
    await Promise.all([stop(http), stop(grpc)]);
  } finally {
    for (const cli of [http, grpc]) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  }
});

// One export every 5 s: a whole retry chain fits between two exports, so the requests the
// receiver logs first are one export and its retries.
const RETRY_CASES = [
  { status: 503, retryAfterSeconds: 2, times: 2, minGapMs: 1950, what: '503 with Retry-After: 2 (each retry waits the 2 s asked for)' },
  { status: 429, retryAfterSeconds: undefined, times: 2, minGapMs: 750, what: '429 without Retry-After (retries back off: 1 s, then 1.5 s, with 20% jitter)' },
] as const;

test(`metrics export retries, then delivers: ${RETRY_CASES.map((c) => c.what).join('; ')}`, async () => {
  // Both at once, each against its own receiver: the retries take seconds.
  await Promise.all(RETRY_CASES.map(async (c) => {
    const rx = await startOtlpReceiver();
    rx.setBehaviour({ status: c.status, retryAfterSeconds: c.retryAfterSeconds, times: c.times });
    const cli = startCli(['-s', '--exporter', 'otlp', '--interval', '1'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_EXPORTER_OTLP_TIMEOUT: '10000',
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
    });
    try {
      await rx.waitFor(() => metricRequests(rx).some((r) => r.accepted), 20_000);
      const log = metricRequests(rx);
      const chain = log.slice(0, c.times + 1);
      assert.deepEqual(chain.map((r) => r.status), [...Array(c.times).fill(c.status), 200], `${c.status}: statuses ${log.map((r) => r.status)}`);
      const gaps = chain.slice(1).map((r, i) => r.receivedAt - chain[i]!.receivedAt);
      for (const g of gaps) assert.ok(g >= c.minGapMs, `${c.status}: retries spaced ${gaps.join(', ')} ms; each must be >= ${c.minGapMs}`);
      if (c.retryAfterSeconds === undefined) assert.ok(gaps[1]! >= 1150, `backoff grows (1 s, then 1.5 s): ${gaps.join(', ')} ms`);
      assert.ok(rx.metrics().some((m) => m.name === 'memwatcher.system.memory.lru'), 'the retried export delivered the data');
      await stop(cli);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      await rx.close();
    }
  }));
});

test('backend hanging: the probe, console and Prometheus carry on, memory stays flat, export resumes once it answers', async () => {
  const rx = await startOtlpReceiver();
  rx.setBehaviour('hang');
  const promPort = await freePort();
  const cli = startCli(['-s', '--exporter', 'otlp', '--exporter', 'prometheus', '--exporter', 'console', '--interval', '0.5'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
    OTEL_METRIC_EXPORT_INTERVAL: '500',
    MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
    MEMWATCHER_PROMETHEUS_PORT: String(promPort),
  });
  try {
    await cli.waitForOutput(/ACTIVE.*\n\s+\d+/);
    await rx.waitFor(() => metricRequests(rx).length >= 2, 10_000);
    const rss0 = rssKb(cli.child.pid!);
    const rows0 = cli.stdout().split('\n').length;
    const requests0 = metricRequests(rx).length;
    await sleep(6000); // a dozen exports time out
    assert.match(await scrape(promPort), /memwatcher_system_memory_lru\{/, 'Prometheus serves while OTLP hangs');
    assert.ok(cli.stdout().split('\n').length > rows0, 'console rows keep coming');
    const rss1 = rssKb(cli.child.pid!);
    assert.ok(rss1 - rss0 < 30 * 1024, `RSS grew ${rss1 - rss0} kB in 6 s of hanging exports`);
    const during = metricRequests(rx).length - requests0;
    assert.ok(during <= 14, `${during} requests in 6 s at one export per 0.5 s: no retry storm`);
    assert.ok(metricRequests(rx).every((r) => r.status === undefined), 'all of them hung');
    assert.match(cli.stderr(), /otel: .*(timed out|timeout)/i);
    const before = metricRequests(rx).length;
    rx.setBehaviour('accept');
    await rx.waitFor(() => metricRequests(rx).slice(before).some((r) => r.accepted), 10_000);
    assert.ok(rx.metrics().some((m) => m.name === 'memwatcher.system.memory.lru'));
    assertOneLineWarnings(cli.stderr());
    await stop(cli);
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await rx.close();
  }
});

test('spans: a hanging traces backend fills the bounded queue, the oldest are dropped and counted, the newest arrive after it recovers', async () => {
  const metrics = await startOtlpReceiver();
  const traces = await startOtlpReceiver();
  traces.setBehaviour('hang');
  // memleak sends a memleak.report span per traced process per interval: a steady span source.
  const cli = startCli(['--memleak-command', 'sleep 60', '--exporter', 'otlp', '--interval', '0.25'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: metrics.url,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${traces.url}/v1/traces`,
    OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
    OTEL_METRIC_EXPORT_INTERVAL: '500',
    MEMWATCHER_OTLP_MAX_QUEUE_SIZE: '4',
  });
  const dropped = () => {
    const pts = metrics.metrics().filter((m) => m.name === 'memwatcher.telemetry.dropped').flatMap((m) => m.points);
    return pts.length > 0 ? Math.max(...pts.map((p) => p.value ?? 0)) : undefined;
  };
  try {
    await metrics.waitFor(() => (dropped() ?? 0) >= 4, 15_000);
    const m = metrics.metrics().find((x) => x.name === 'memwatcher.telemetry.dropped')!;
    assert.equal(m.kind, 'sum');
    assert.equal(m.monotonic, true);
    assert.equal(m.unit, '{span}');
    await cli.waitForOutput(/otel: dropping spans: export queue full/);
    const droppedBeforeRecovery = dropped()!;
    traces.setBehaviour('accept');
    await traces.waitFor(() => traces.spans().filter((s) => s.name === 'memleak.report').length >= 2, 10_000);
    // Reports are made every 0.25 s: what arrives first after the recovery is recent, not the run's first.
    const first = traces.spans().find((s) => s.name === 'memleak.report')!;
    const firstReportAgeMs = Date.now() - Number(first.startTimeUnixNano / 1_000_000n);
    assert.ok(firstReportAgeMs < 6000, `the oldest delivered span is ${firstReportAgeMs} ms old: the oldest ones were the ones dropped`);
    assert.ok(droppedBeforeRecovery >= 4);
    assertOneLineWarnings(cli.stderr());
    // memleak's exit detaches ~25 uprobes (about 2.5 s here, backend or not): a wider bound.
    await stop(cli, 8000);
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await metrics.close();
    await traces.close();
  }
});

/** A self-signed certificate for 127.0.0.1, made with openssl. */
function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'mw-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

test('TLS wrong (https:// to a plain-HTTP receiver, and to a self-signed server): one line why, nothing sent, probes carry on', async () => {
  const plain = await startOtlpReceiver();
  let handled = 0;
  const tlsServer = https.createServer(selfSigned(), (_req, res) => { handled++; res.writeHead(200).end(); });
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  const tlsPort = (tlsServer.address() as AddressInfo).port;
  const env = { OTEL_EXPORTER_OTLP_TIMEOUT: '1000', OTEL_METRIC_EXPORT_INTERVAL: '500' };
  const args = ['-s', '--exporter', 'otlp', '--exporter', 'console', '--interval', '0.5'];
  const toPlain = startCli(args, { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: plain.url.replace('http://', 'https://') });
  const toSelfSigned = startCli(args, { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: `https://127.0.0.1:${tlsPort}` });
  try {
    await toPlain.waitForOutput(/otel: .*(EPROTO|wrong version number|SSL)/i, 15_000);
    await toSelfSigned.waitForOutput(/otel: .*self[- ]signed certificate/i, 15_000);
    await sleep(1500); // several more failed exports
    for (const cli of [toPlain, toSelfSigned]) {
      assert.equal(cli.child.exitCode, null, 'still running');
      assert.match(cli.stdout(), /ACTIVE.*\n\s+\d+/, 'the console printed its table');
      assertOneLineWarnings(cli.stderr());
      assert.equal(cli.stderr().split('\n').filter((l) => /otel: /.test(l)).length <= 3, true, `failures are logged once a minute, not per export:\n${cli.stderr()}`);
    }
    assert.equal(plain.requests.log.filter((r) => r.accepted).length, 0, 'nothing reached the plain-HTTP receiver as data');
    assert.equal(handled, 0, 'the self-signed server was never trusted with a request');
    await Promise.all([stop(toPlain), stop(toSelfSigned)]);
  } finally {
    for (const cli of [toPlain, toSelfSigned]) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await plain.close();
    tlsServer.closeAllConnections();
    await new Promise((r) => tlsServer.close(r));
  }
});

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}
