// A fast slice of `npm run bench` guarding against regressions. Only ratios measured in this
// same run are asserted, with generous margins: these machines are shared and noisy, so
// absolute rates mean nothing here (the full benchmark records them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDrain } from '../../bench/drain.ts';
import { availableProbes } from '../../bench/lib/agent.ts';
import { overheadBench } from '../../bench/overhead.ts';

test('drain: the batch consumer delivers an offered load whole and in order, and stays well ahead of a callback per record', async () => {
  // 300k records/s is a third of the drain's goal: with a 16 MiB ring, even a consumer held
  // off its core for a second by other tenants loses nothing.
  const steady = await runDrain({ consumer: 'mmap', offered: 300_000, seconds: 1.5 });
  assert.equal(steady.misordered, 0, 'records out of order or twice');
  assert.equal(steady.unaccounted, 0, 'records neither received nor counted lost');
  assert.ok(steady.received / steady.produced >= 0.9, `received ${steady.received} of ${steady.produced}`);

  // Flat out, per CPU-second of the consumer: the batch path measured about 10x the libbpf
  // callback path; fail if it falls below 2x (a per-record native call or copy crept back).
  // (A 1 MiB ring: the final drain of a full ring adds nothing to a per-record figure.)
  const batch = await runDrain({ consumer: 'mmap', offered: 0, seconds: 1, ringBytes: 1 << 20 });
  const callback = await runDrain({ consumer: 'libbpf', offered: 0, seconds: 1, ringBytes: 1 << 20 });
  assert.equal(batch.unaccounted, 0);
  assert.equal(callback.unaccounted, 0);
  const ratio = callback.nsPerRecord / batch.nsPerRecord;
  assert.ok(ratio >= 2, `batch drain costs ${batch.nsPerRecord.toFixed(0)} ns/record, callback ${callback.nsPerRecord.toFixed(0)}: only ${ratio.toFixed(1)}x`);
});

test('context-switch storm: each of procstat and sysstat keeps at least 70% of the no-probe throughput', async () => {
  // Round trips per CPU-second of the storm (the probes run in its context); measured here at
  // about 0.85 for either probe alone, against a budget of 0.98 that they do not meet yet.
  const probes = availableProbes().filter((p) => p === 'procstat' || p === 'sysstat');
  assert.ok(probes.length > 0, 'neither procstat nor sysstat is registered');
  const r = await overheadBench({
    reps: 3, pipeLoops: 20_000, pagefaultSeconds: 0, pipeTool: 'bench/c/pipe-pingpong', inProcess: true,
    conditions: [{ name: 'no probes', probes: [] }, ...probes.map((p) => ({ name: p, probes: [p] }))],
  });
  for (const on of r.pipe.slice(1)) {
    assert.ok(on.ratio >= 0.7, `with ${on.condition}: ${on.ratio.toFixed(3)} of the no-probe round trips per CPU-second (per-run ops/CPU-s: ${JSON.stringify(r.pipe.map((f) => f.runs.map((x) => Math.round(x.ops / x.cpuSeconds))))})`);
  }
});
