// Stopping: SIGINT, SIGTERM and --duration all exit 0, flush what was collected to the
// backend, and leave no BPF program or link of ours behind. A backend that is down never
// stops the probe or the console.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOtlpReceiver } from '../../harness/otlp-receiver.ts';
import { startCli, bpfObjectsOf, loadedProgramIds, loadedLinks } from '../helpers/cli.ts';
import { freePort } from '../helpers/prometheus.ts';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

for (const how of ['SIGINT', 'SIGTERM', 'duration'] as const) {
  test(`${how}: exit 0, final export flushed, programs and links detached`, async () => {
    const rx = await startOtlpReceiver();
    // A long export interval: only the flush at stop can deliver the metrics in time.
    const cli = startCli(['-s', '--exporter', 'otlp', '--exporter', 'console', '--interval', '0.5', ...(how === 'duration' ? ['--duration', '2'] : [])], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    });
    try {
      await cli.waitForOutput(/attached with/);
      const ours = bpfObjectsOf(cli.child.pid!);
      assert.ok(ours.progs.length >= 1 && ours.links.length >= 1, 'the probe is loaded and attached while running');
      await cli.waitForOutput(/ACTIVE.*\n\s+\d+/);
      const stoppedAt = Date.now();
      if (how !== 'duration') cli.child.kill(how);
      const { code } = await cli.exited;
      assert.equal(code, 0, cli.stderr());
      assert.ok(Date.now() - stoppedAt < 5000, 'stops within a few seconds');
      assert.ok(rx.metrics().some((m) => m.name === 'memwatcher.system.memory.lru'), 'metrics flushed at stop');
      const left = loadedProgramIds();
      assert.deepEqual(ours.progs.filter((id) => left.has(id)), [], 'programs left loaded');
      const linksLeft = new Set(loadedLinks());
      assert.deepEqual(ours.links.filter((id) => linksLeft.has(id)), [], 'links left attached');
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      await rx.close();
    }
  });
}

test('a backend that accepts and never answers: SIGTERM detaches every probe and exits 0 within otlp.shutdown_timeout_ms; a second SIGTERM stops at once', async () => {
  const rx = await startOtlpReceiver();
  rx.setBehaviour('hang');
  // The exporter would wait a minute for an answer: only the shutdown deadline can bound the stop.
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_TIMEOUT: '60000', OTEL_METRIC_EXPORT_INTERVAL: '60000' };
  const args = ['-s', '-r', '--exporter', 'otlp', '--interval', '0.5'];
  const bounded = startCli(args, { ...env, MEMWATCHER_OTLP_SHUTDOWN_TIMEOUT_MS: '2000' });
  const twice = startCli(args, { ...env, MEMWATCHER_OTLP_SHUTDOWN_TIMEOUT_MS: '120000' });
  try {
    await Promise.all([bounded, twice].map((cli) => cli.waitForOutput(/procstat: attached with[\s\S]*sysstat: attached with|sysstat: attached with[\s\S]*procstat: attached with/, 30_000)));
    const ours = bpfObjectsOf(bounded.child.pid!);
    assert.ok(ours.progs.length >= 2, 'both probes loaded');
    let t0 = Date.now();
    bounded.child.kill('SIGTERM');
    await rx.waitFor(() => rx.requests.log.some((r) => r.path === '/v1/metrics'), 10_000); // the final export, hanging
    const { code } = await bounded.exited;
    const took = Date.now() - t0;
    assert.equal(code, 0, bounded.stderr());
    assert.ok(took < 2000 + 8000, `stop took ${took} ms against a hanging backend with a 2 s deadline`);
    assert.match(bounded.stderr(), /the final export did not finish within otlp\.shutdown_timeout_ms \(2000 ms\)/);
    const left = loadedProgramIds();
    assert.deepEqual(ours.progs.filter((id) => left.has(id)), [], 'programs left loaded');
    const linksLeft = new Set(loadedLinks());
    assert.deepEqual(ours.links.filter((id) => linksLeft.has(id)), [], 'links left attached');

    const exports = () => rx.requests.log.filter((r) => r.path === '/v1/metrics').length;
    const before = exports();
    twice.child.kill('SIGTERM');
    await rx.waitFor(() => exports() > before, 10_000); // the first began the stop: its final export hangs
    t0 = Date.now();
    twice.child.kill('SIGTERM');
    const second = await twice.exited;
    assert.equal(second.code, 130, twice.stderr());
    assert.ok(Date.now() - t0 < 5000, `a second SIGTERM took ${Date.now() - t0} ms`);
    assert.match(twice.stderr(), /SIGTERM again: exiting without flushing/);
  } finally {
    for (const cli of [bounded, twice]) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await rx.close();
  }
});

test('SIGKILL leaves no program or link behind (they are owned by file descriptors)', async () => {
  const cli = startCli(['-s', '--exporter', 'none', '--duration', '30']);
  await cli.waitForOutput(/attached with/);
  const ours = bpfObjectsOf(cli.child.pid!);
  assert.ok(ours.progs.length >= 1 && ours.links.length >= 1);
  cli.child.kill('SIGKILL');
  await cli.exited;
  // The kernel frees programs once the last fd closes, which happens as the process dies.
  const gone = () => { const p = loadedProgramIds(); const l = new Set(loadedLinks()); return ours.progs.every((id) => !p.has(id)) && ours.links.every((id) => !l.has(id)); };
  for (let i = 0; i < 50 && !gone(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(gone(), 'programs or links of a killed mem-watcher are still in the kernel');
});

test('backend down: the probe and the console keep going, and the stop is not held up', async () => {
  const deadPort = await freePort(); // nothing listens there
  const cli = startCli(['-s', '--exporter', 'otlp', '--exporter', 'console', '--interval', '0.5'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${deadPort}`,
    OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
  });
  try {
    await cli.waitForOutput(/ACTIVE.*\n\s+\d+/);
    const rowsBefore = cli.stdout().split('\n').length;
    // Keep the host changing (dirty page cache) so sysstat has something new to print.
    const scratch = join(mkdtempSync(join(tmpdir(), 'mw-life-')), 'dirty');
    for (let i = 0; i < 6; i++) {
      writeFileSync(scratch, Buffer.alloc((i + 1) * 1024 * 1024, i));
      await new Promise((r) => setTimeout(r, 500));
    }
    rmSync(scratch, { force: true });
    assert.ok(cli.stdout().split('\n').length > rowsBefore, 'console rows keep coming while exports fail');
    assert.match(cli.stderr(), /otel: .*(ECONNREFUSED|connect|export)/i, 'export failures are logged');
    const t0 = Date.now();
    cli.child.kill('SIGTERM');
    const { code } = await cli.exited;
    assert.equal(code, 0, cli.stderr());
    assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms with the backend down`);
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  }
});
