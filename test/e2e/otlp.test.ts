// The CLI exporting sysstat and procstat over OTLP/HTTP to a real receiver: the metrics arrive
// with the contract's names, units, kinds and resource attributes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOtlpReceiver, type OtlpMetric } from '../../harness/otlp-receiver.ts';
import { runCli } from '../helpers/cli.ts';
import { readKbFile } from '../helpers/proc.ts';

const SYSSTAT_METRICS: Record<string, string> = {
  'memwatcher.system.memory.lru': 'By',
  'memwatcher.system.memory.dirty': 'By',
  'memwatcher.system.memory.writeback': 'By',
  'memwatcher.system.memory.anon': 'By',
  'memwatcher.system.memory.mapped': 'By',
  'memwatcher.system.memory.kernel_reclaimable': 'By',
  'memwatcher.system.memory.anon_thp': 'By',
  'memwatcher.system.memory.shmem_thp': 'By',
  'system.memory.linux.shared': 'By',
  'system.memory.linux.slab.usage': 'By',
  'system.memory.usage': 'By',
  'system.memory.limit': 'By',
  'system.memory.linux.available': 'By',
};

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  test(`sysstat over OTLP ${protocol}: names, units, attributes, resource`, async () => {
    const rx = await startOtlpReceiver();
    try {
      const r = await runCli(['-s', '--exporter', 'otlp', '--interval', '1', '--duration', '3'], {
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=mem',
      });
      assert.equal(r.code, 0, r.stderr);
      const metrics = rx.metrics();
      assert.ok(metrics.length > 0, 'no metrics arrived');
      assert.ok(metrics.every((m) => m.protocol === (protocol === 'http/json' ? 'json' : 'protobuf')));
      const byName = new Map<string, OtlpMetric>();
      for (const m of metrics) byName.set(m.name, m);
      for (const [name, unit] of Object.entries(SYSSTAT_METRICS)) {
        const m = byName.get(name);
        assert.ok(m, `metric ${name} missing; got ${[...byName.keys()].join(', ')}`);
        assert.equal(m.unit, unit, `${name} unit`);
        assert.ok(m.description.length > 0, `${name} has a description`);
        assert.ok(m.points.length > 0, `${name} has data points`);
        // Amounts that add up (over nodes, lists, states) are UpDownCounters.
        assert.ok(m.kind === 'sum' && m.monotonic === false && m.temporality === 'cumulative', `${name} is a non-monotonic cumulative sum, not ${m.kind}`);
      }
      const utilization = byName.get('system.memory.utilization');
      assert.ok(utilization && utilization.kind === 'gauge' && utilization.unit === '1', 'system.memory.utilization is a gauge of unit 1');

      // system.memory.usage by state adds up to MemTotal, as the hostmetrics receiver's does.
      const usage = byName.get('system.memory.usage')!;
      const states = new Map(usage.points.map((p) => [p.attributes['system.memory.state'], p.value!]));
      assert.deepEqual([...states.keys()].sort(), ['buffers', 'cached', 'free', 'used']);
      const memTotal = readKbFile('/proc/meminfo').MemTotal!;
      const summed = [...states.values()].reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(summed - memTotal) <= memTotal * 0.01, `usage states sum to ${summed}, MemTotal is ${memTotal}`);
      assert.ok(states.get('used')! > 0 && states.get('free')! > 0, 'used and free are both non-zero');
      assert.equal(byName.get('system.memory.limit')!.points[0]?.value, memTotal);
      const ratios = utilization.points.reduce((a, p) => a + p.value!, 0);
      assert.ok(Math.abs(ratios - 1) < 0.01, `utilization states sum to ${ratios}`);
      const avail = byName.get('system.memory.linux.available')!.points[0]!.value!;
      assert.ok(avail > 0 && avail <= memTotal, `MemAvailable ${avail} within MemTotal`);
      const lru = byName.get('memwatcher.system.memory.lru')!;
      const lists = new Set(lru.points.map((p) => p.attributes['memwatcher.lru.list']));
      assert.deepEqual([...lists].sort(), ['active_anon', 'active_file', 'inactive_anon', 'inactive_file', 'unevictable']);
      assert.ok(lru.points.every((p) => typeof p.attributes['memwatcher.numa.node'] === 'number'));
      const slab = byName.get('system.memory.linux.slab.usage')!;
      assert.deepEqual(new Set(slab.points.map((p) => p.attributes['system.memory.linux.slab.state'])), new Set(['reclaimable', 'unreclaimable']));

      // The values are the kernel's: active_file summed over nodes is /proc/meminfo's Active(file).
      const activeFile = lru.points.filter((p) => p.attributes['memwatcher.lru.list'] === 'active_file').reduce((a, p) => a + p.value!, 0);
      const meminfo = readKbFile('/proc/meminfo')['Active(file)']!;
      assert.ok(Math.abs(activeFile - meminfo) < meminfo * 0.05, `active_file ${activeFile} vs /proc/meminfo ${meminfo}`);

      const res = lru.resource;
      assert.equal(res['service.name'], 'mem-watcher');
      assert.equal(res['host.name'], os.hostname());
      assert.equal(res['os.type'], 'linux');
      // The SDK's host, os and service.instance.id detectors (Prometheus's OTLP receiver makes
      // `instance` of service.instance.id).
      assert.equal(res['os.version'], os.release());
      assert.equal(res['host.arch'], ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch);
      if (existsSync('/etc/machine-id')) assert.equal(res['host.id'], readFileSync('/etc/machine-id', 'utf8').trim());
      assert.match(String(res['service.instance.id']), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.ok(metrics.every((m) => m.resource['service.instance.id'] === res['service.instance.id']), 'one service.instance.id per run');
      // The agent's own pid would clash with the watched processes' process.pid on data points.
      assert.equal(res['process.pid'], undefined);
      assert.match(String(res['service.version']), /^\d+\.\d+\.\d+/);
      assert.equal(res['deployment.environment.name'], 'test');
      assert.equal(res['team'], 'mem');

      const attached = byName.get('memwatcher.probe.attached');
      assert.ok(attached, 'self metric memwatcher.probe.attached');
      const sys = attached.points.find((p) => p.attributes['memwatcher.probe'] === 'sysstat');
      assert.equal(sys?.value, 1);
      assert.match(String(sys?.attributes['memwatcher.probe.strategy']), /^(uprobe|tp_btf|tracepoint|fentry|kprobe)$/);
      const received = byName.get('memwatcher.events.received');
      assert.ok(received && received.kind === 'sum' && received.monotonic, 'events.received is a monotonic counter');
      assert.ok(received.points.some((p) => p.attributes['memwatcher.probe'] === 'sysstat' && p.value! > 0));
      assert.ok(byName.has('memwatcher.events.dropped'));
    } finally {
      await rx.close();
    }
  });
}

test('OTEL_SERVICE_NAME and OTEL_EXPORTER_OTLP_METRICS_ENDPOINT are honoured', async () => {
  const rx = await startOtlpReceiver();
  try {
    const r = await runCli(['-s', '--exporter', 'otlp', '--interval', '1', '--duration', '2'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${rx.url}/v1/metrics`,
      OTEL_SERVICE_NAME: 'memwatch-node-7',
    });
    assert.equal(r.code, 0, r.stderr);
    const m = rx.metrics()[0];
    assert.ok(m, 'metrics arrived at the per-signal endpoint');
    assert.equal(m.resource['service.name'], 'memwatch-node-7');
  } finally {
    await rx.close();
  }
});

test('procstat over OTLP: sizes are non-monotonic sums, the peak a gauge, and process.executable.name is the comm as ps shows it', async () => {
  // A program started through a link: its comm (what ps shows) is the link's name, while
  // /proc/PID/exe names the target.
  const dir = mkdtempSync(join(tmpdir(), 'mw-comm-'));
  const link = join(dir, 'mw-sleeper');
  symlinkSync('/bin/sleep', link);
  const child = spawn(link, ['60'], { stdio: 'ignore' });
  const rx = await startOtlpReceiver();
  try {
    assert.ok(child.pid);
    assert.equal(readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim(), 'mw-sleeper');
    const r = await runCli(['-r', '--pid', String(child.pid), '--top', '1', '--exporter', 'otlp', '--interval', '1', '--duration', '3'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    });
    assert.equal(r.code, 0, r.stderr);
    const byName = new Map<string, OtlpMetric>();
    for (const m of rx.metrics()) if (m.name.includes('process.memory')) byName.set(m.name, m);
    for (const name of ['process.memory.usage', 'process.memory.virtual', 'memwatcher.process.memory.rss', 'memwatcher.process.memory.swap', 'memwatcher.process.memory.data', 'memwatcher.process.memory.stack', 'memwatcher.process.memory.page_tables']) {
      const m = byName.get(name);
      assert.ok(m, `${name} arrived; got ${[...byName.keys()].join(', ')}`);
      assert.ok(m.kind === 'sum' && m.monotonic === false, `${name} is a non-monotonic sum, not ${m.kind}`);
    }
    assert.equal(byName.get('memwatcher.process.memory.peak_rss')?.kind, 'gauge', 'the peak (a watermark) is a gauge');
    const point = byName.get('process.memory.usage')!.points.find((p) => p.attributes['process.pid'] === child.pid);
    assert.ok(point, 'the selected process has a data point');
    assert.equal(point.attributes['process.executable.name'], 'mw-sleeper');
  } finally {
    child.kill();
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
