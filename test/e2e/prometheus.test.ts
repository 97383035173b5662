// The Prometheus exporter: the endpoint serves the contract's names, and Debian's prometheus
// scraping it stores them (queried through its HTTP API).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { runCli, startCli } from '../helpers/cli.ts';
import { HTTP_LIMITS } from '../../src/telemetry/http-server.ts';
import { freePort, startPrometheus } from '../helpers/prometheus.ts';

test('sysstat served on /metrics and stored by a real Prometheus', async () => {
  const port = await freePort();
  const cli = startCli(['-s', '--exporter', 'prometheus', '--exporter', 'console', '--interval', '1', '--duration', '40'], {
    MEMWATCHER_PROMETHEUS_PORT: String(port),
    MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1',
  });
  const prom = await startPrometheus({ targets: [`127.0.0.1:${port}`], scrapeIntervalSeconds: 1 });
  try {
    await cli.waitForOutput(/ACTIVE\s+INACTVE.*\n\s+\d+\s+\d+/);
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const name of ['memwatcher_system_memory_lru', 'memwatcher_system_memory_dirty', 'system_memory_linux_shared', 'system_memory_linux_slab_usage', 'system_memory_usage', 'system_memory_utilization', 'system_memory_linux_available', 'memwatcher_probe_attached']) {
      assert.match(body, new RegExp(`^${name}\\{`, 'm'), `${name} on /metrics`);
    }
    assert.match(body, /memwatcher_lru_list="active_file"/);

    const series = await prom.waitForSeries('memwatcher_system_memory_lru{memwatcher_lru_list="active_file"}', 30_000);
    assert.ok(series.length >= 1);
    assert.ok(series[0]!.value > 0, 'active_file bytes stored');
    const attached = await prom.waitForSeries('memwatcher_probe_attached{memwatcher_probe="sysstat"}', 10_000);
    assert.equal(attached[0]!.value, 1);
  } finally {
    cli.child.kill('SIGINT');
    const { code } = await cli.exited;
    await prom.stop();
    assert.equal(code, 0, cli.stderr());
  }
});

test('a port already in use is a one-line error naming the key', async () => {
  const port = await freePort();
  const first = startCli(['-s', '--exporter', 'prometheus', '--duration', '20'], { MEMWATCHER_PROMETHEUS_PORT: String(port), MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1' });
  try {
    await first.waitForOutput(/attached/);
    const second = startCli(['-s', '--exporter', 'prometheus', '--duration', '5'], { MEMWATCHER_PROMETHEUS_PORT: String(port), MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1' });
    const { code } = await second.exited;
    assert.equal(code, 2);
    assert.match(second.stderr(), /EADDRINUSE.*MEMWATCHER_PROMETHEUS_PORT/);
  } finally {
    first.child.kill('SIGTERM');
    await first.exited;
  }
});

test('an address that is not this machine\'s, or no address at all, names prometheus.host, not the port', async () => {
  for (const host of ['no-such-host.invalid', '192.0.2.1']) {
    const r = await runCli(['-s', '--exporter', 'prometheus', '--duration', '5'], { MEMWATCHER_PROMETHEUS_HOST: host, MEMWATCHER_PROMETHEUS_PORT: String(await freePort()) });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot serve Prometheus metrics on .*\((ENOTFOUND|EAI_AGAIN|EADDRNOTAVAIL)\): set prometheus\.host \(MEMWATCHER_PROMETHEUS_HOST\)/);
  }
});

/** Descriptors process `pid` holds. */
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

test('many idle and slow-loris connections neither blind /metrics nor take the agent\'s descriptors; only GET and HEAD are served', { timeout: 90_000 }, async () => {
  const port = await freePort();
  const cli = startCli(['-s', '--exporter', 'prometheus', '--interval', '1', '--duration', '80'], { MEMWATCHER_PROMETHEUS_PORT: String(port), MEMWATCHER_PROMETHEUS_HOST: '127.0.0.1' });
  const sockets: net.Socket[] = [];
  try {
    await cli.waitForOutput(/attached/);
    const url = `http://127.0.0.1:${port}/metrics`;
    assert.equal((await fetch(url)).status, 200);
    assert.equal((await fetch(url, { method: 'HEAD' })).status, 200);
    for (const method of ['DELETE', 'POST', 'PUT']) {
      const r = await fetch(url, { method });
      assert.equal(r.status, 405, `${method} /metrics`);
      assert.equal(r.headers.get('allow'), 'GET, HEAD');
    }
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);

    const before = fdCount(cli.child.pid!);
    const closed: Array<Promise<void>> = [];
    for (let i = 0; i < 400; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => {}).resume(); // read what the server says (a 408), so its close is seen
      // Half send a request line and a header that never ends (slow-loris), half send nothing.
      if (i % 2) s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      closed.push(new Promise((r) => s.once('close', () => r())));
      sockets.push(s);
      await new Promise((r) => s.once('connect', r).once('error', r));
    }
    const held = fdCount(cli.child.pid!) - before;
    assert.ok(held <= HTTP_LIMITS.maxConnections + 8, `the agent holds ${held} more descriptors for 400 connections`);
    // The server closes every one of them itself (headers and idle timeouts); then it answers.
    await Promise.all(closed);
    assert.equal((await fetch(url)).status, 200);
    assert.equal(cli.child.exitCode, null);
  } finally {
    for (const s of sockets) s.destroy();
    cli.child.kill('SIGTERM');
    assert.equal((await cli.exited).code, 0, cli.stderr());
  }
});
