// mem-watcher -a over OTLP to a real receiver: the zone gauges arrive without any failure, with
// the contract's names, units and attributes and /proc/zoneinfo's values; where a failure can be
// provoked safely (the small test guest), its counter and its page_alloc.failure span arrive too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCli } from '../helpers/cli.ts';
import { startOtlpReceiver, type OtlpMetric } from '../../harness/otlp-receiver.ts';
import { provokeFailure, provokeRefusal, readZoneinfo } from '../fixtures/paf-provoke.ts';

const latest = (metrics: OtlpMetric[], name: string) => metrics.filter((m) => m.name === name).at(-1);

/** A receiver wait that, when it times out, says what the CLI printed (a slow guest start, or an error). */
async function arrives<T>(wait: Promise<T>, cli: ReturnType<typeof startCli>): Promise<T> {
  try {
    return await wait;
  } catch (err) {
    throw new Error(`${(err as Error).message}\nCLI ${cli.child.exitCode === null ? 'still running' : `exited ${cli.child.exitCode}`}; stderr:\n${cli.stderr().slice(-2000)}`);
  }
}

test('zone watermarks and pages over OTLP, live without failures, as /proc/zoneinfo has them', { timeout: 180_000 }, async () => {
  const rx = await startOtlpReceiver();
  const before = readZoneinfo().filter((z) => z.present > 0);
  const cli = startCli(['-a', '--exporter', 'otlp', '--interval', '0.5'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
  try {
    const [wm, pages] = await arrives(rx.waitFor(() => {
      const w = latest(rx.metrics(), 'memwatcher.zone.watermark');
      const p = latest(rx.metrics(), 'memwatcher.zone.pages');
      return w && p && w.points.length > 0 && p.points.length > 0 ? [w, p] as const : undefined;
    }, 120_000), cli);
    assert.equal(wm.unit, '{page}');
    assert.equal(pages.unit, '{page}');
    assert.equal(wm.kind, 'gauge');
    const after = readZoneinfo().filter((z) => z.present > 0);
    const key = (a: Record<string, unknown>) => `${a['memwatcher.numa.node']}/${a['memwatcher.zone.name']}`;
    assert.deepEqual(new Set(wm.points.map((p) => key(p.attributes))), new Set(after.map((z) => `${z.node}/${z.name}`)), 'the populated zones');
    after.forEach((z, i) => {
      const at = (m: OtlpMetric, attr: string, v: string) => m.points.find((p) => key(p.attributes) === `${z.node}/${z.name}` && p.attributes[attr] === v)?.value;
      const was = before[i]!;
      // static fields: what zoneinfo showed before the run or after the export
      const check = (got: number | undefined, field: 'min' | 'low' | 'high' | 'present' | 'managed') =>
        assert.ok(got === z[field] || got === was[field], `${z.name} ${field}: ${got}, zoneinfo ${was[field]} then ${z[field]}`);
      for (const level of ['min', 'low', 'high'] as const) check(at(wm, 'memwatcher.zone.watermark.level', level), level);
      check(at(pages, 'memwatcher.zone.page.state', 'present'), 'present');
      check(at(pages, 'memwatcher.zone.page.state', 'managed'), 'managed');
      assert.ok(at(pages, 'memwatcher.zone.page.state', 'free')! > 0, `${z.name} free`);
    });
  } finally {
    cli.child.kill('SIGINT');
    await rx.close().catch(() => {});
  }
  const { code } = await cli.exited;
  assert.equal(code, 0, cli.stderr());
});

test('a real failure over OTLP: the failure counter and a page_alloc.failure span', { skip: provokeRefusal('test/kernel/paf-otlp.test.ts'), timeout: 300_000 }, async () => {
  const rx = await startOtlpReceiver();
  const cli = startCli(['-a', '--exporter', 'otlp', '--interval', '0.5'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url });
  try {
    await arrives(rx.waitFor(() => latest(rx.metrics(), 'memwatcher.zone.pages'), 120_000), cli); // attached and exporting
    const run = await provokeFailure([cli.child.pid!]);
    const span = await arrives(rx.waitFor(() => rx.spans().find((s) => s.name === 'page_alloc.failure' && s.attributes['process.pid'] === run.pid && s.attributes['memwatcher.alloc.order'] === 9), 60_000), cli);
    assert.match(String(span.attributes['memwatcher.alloc.gfp']), /__GFP_COMP/);
    assert.match(String(span.attributes['process.executable.name']), /^python3/);
    assert.match(String(span.attributes['code.stacktrace']), /hugetlb_reserve_pages/);
    for (const a of ['memwatcher.zone.name', 'memwatcher.numa.node', 'memwatcher.zone.watermark.min', 'memwatcher.zone.watermark.low', 'memwatcher.zone.watermark.high', 'memwatcher.zone.pages.free', 'memwatcher.zone.pages.managed', 'memwatcher.zone.pages.present']) {
      assert.ok(span.attributes[a] !== undefined, `${a} on the span`);
    }
    const failures = await arrives(rx.waitFor(() => latest(rx.metrics(), 'memwatcher.page_alloc.failures'), 30_000), cli);
    assert.equal(failures.unit, '{failure}');
    const order9 = failures.points.find((p) => p.attributes['memwatcher.alloc.order'] === 9 && p.attributes['memwatcher.alloc.gfp'] === span.attributes['memwatcher.alloc.gfp']);
    assert.ok(order9 && order9.value! >= 1, JSON.stringify(failures.points, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  } finally {
    cli.child.kill('SIGINT');
    await rx.close().catch(() => {});
  }
  const { code } = await cli.exited;
  assert.equal(code, 0, cli.stderr());
});
