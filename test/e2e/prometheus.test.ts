// The Prometheus exporter: the endpoint serves the contract's names, and Debian's prometheus
// scraping it stores them (queried through its HTTP API).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCli } from '../helpers/cli.ts';
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
