// /readyz's decision: probes attached, exports failing for longer than health.export_failure_s.
// The HTTP side runs against the real CLI in test/e2e/health.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Health } from '../../src/app/health.ts';
import { ExportHealth } from '../../src/telemetry/export-health.ts';
import type { Telemetry } from '../../src/telemetry/otel.ts';

/** An exporter answering as told, with a member of its own the wrapper must pass through. */
function exporter(code: () => number) {
  return {
    calls: 0,
    export(_items: unknown, done: (r: { code: number; error?: Error }) => void) {
      this.calls++;
      done(code() === 0 ? { code: 0 } : { code: 1, error: new Error('connect ECONNREFUSED 127.0.0.1:4318') });
    },
    selectAggregationTemporality: () => 'cumulative',
  };
}

function telemetryWith(exportHealth: ExportHealth): Telemetry {
  return { exportHealth } as unknown as Telemetry;
}

const attached = { status: [{ probe: 'sysstat', strategy: 'tp_btf', refused: [] }] };

test('not ready before the probes attach, ready after; a probe refused everywhere is named with why', () => {
  const h = new Health({ enabled: ['sysstat', 'pr'], sdkDisabled: false, exportFailureMs: 60_000 });
  assert.deepEqual(h.ready().reasons, ['starting: the probes are not attached yet']);
  h.attached({ status: [...attached.status, { probe: 'pr', refused: [{ strategy: 'kprobe', reason: 'kprobes are not available' }] }] });
  const r = h.ready();
  assert.equal(r.status, 'not ready');
  assert.deepEqual(r.reasons, ['probe pr failed to attach (kprobe: kprobes are not available)']);
  assert.equal(r.probes.sysstat, 'attached (tp_btf)');
});

test('exports: unready only once failing for export_failure_s in a row; a success resets it; 0 never makes it unready', () => {
  let failing = true;
  const eh = new ExportHealth();
  const e = eh.watch('otlp metrics', exporter(() => (failing ? 1 : 0)));
  assert.equal(e.selectAggregationTemporality(), 'cumulative', 'other members are the exporter\'s');
  const strict = new Health({ enabled: ['sysstat'], telemetry: telemetryWith(eh), sdkDisabled: false, exportFailureMs: 1000 });
  const lenient = new Health({ enabled: ['sysstat'], telemetry: telemetryWith(eh), sdkDisabled: false, exportFailureMs: 0 });
  strict.attached(attached);
  lenient.attached(attached);
  assert.equal(strict.ready().exporters['otlp metrics'], 'no export yet');
  const results: number[] = [];
  e.export([], (r) => results.push(r.code));
  assert.deepEqual(results, [1], 'the result still reaches the reader');
  const t0 = Date.now();
  assert.equal(strict.ready(t0 + 500).status, 'ready', 'failing for less than the limit');
  const late = strict.ready(t0 + 5000);
  assert.equal(late.status, 'not ready');
  assert.match(late.reasons[0]!, /^otlp metrics export failing for \d+ s \(health\.export_failure_s is 1\): connect ECONNREFUSED/);
  assert.equal(lenient.ready(t0 + 5000).status, 'ready');
  failing = false;
  e.export([], () => {});
  assert.equal(strict.ready(t0 + 10_000).status, 'ready');
  assert.equal(strict.ready().exporters['otlp metrics'], 'ok');
});
