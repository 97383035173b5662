// A fast slice of `npm run bench` guarding against regressions. Only ratios measured in this
// same run are asserted, with generous margins: these machines are shared and noisy, so
// absolute rates mean nothing here (the full benchmark records them in bench/RESULTS.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDrain } from '../../bench/drain.ts';
import { availableProbes } from '../../bench/lib/agent.ts';
import { median } from '../../bench/lib/stats.ts';
import { perCpu } from '../../bench/lib/storms.ts';
import { overheadBench, type OverheadResult } from '../../bench/overhead.ts';

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

/** Per repetition, the ratio to the no-probe run of the same repetition (adjacent in time, so
 * drift on a shared host cancels out); the median of those. */
function pairedRatio(r: OverheadResult, storm: 'pipe' | 'pagefault', condition: string): number {
  const base = r[storm][0]!.runs;
  const on = r[storm].find((f) => f.condition === condition)!.runs;
  return median(on.map((x, i) => perCpu(x) / perCpu(base[i]!)));
}

const perRun = (r: OverheadResult, storm: 'pipe' | 'pagefault') => JSON.stringify(r[storm].map((f) => [f.condition, f.runs.map((x) => Math.round(perCpu(x)))]));

test('storms: no probe runs on context switches (procstat, sysstat, all four keep 90%+ of the round trips); with all four the page-fault storm keeps 85%+', async () => {
  // Round trips (pages) per CPU-second of the storm (the probes run in its context). Measured
  // here: about 1.0 on the context-switch storm for each probe and for all four (procstat reads
  // every process once per interval from its own task, sysstat and paf's zone snapshots are
  // self-triggered); a program back on sched_switch costs 5-15% (procstat's cost 13%). The
  // page-fault storm pays for paf's hook on every page allocation (about 3%, as much as an
  // empty program there); procstat's former rss_stat hook cost about 9% more.
  const all = availableProbes();
  const probes = all.filter((p) => p === 'procstat' || p === 'sysstat');
  assert.ok(probes.length > 0, 'neither procstat nor sysstat is registered');
  const r = await overheadBench({
    reps: 5, pipeLoops: 50_000, pagefaultSeconds: 0.3, pipeTool: 'bench/c/pipe-pingpong', inProcess: true,
    conditions: [{ name: 'no probes', probes: [] }, ...probes.map((p) => ({ name: p, probes: [p] })), { name: 'all', probes: all }],
  });
  process.stdout.write(`# storms (paired ratio per CPU-second): context switches ${[...probes, 'all'].map((c) => `${c} ${pairedRatio(r, 'pipe', c).toFixed(3)}`).join(', ')}; page faults all ${pairedRatio(r, 'pagefault', 'all').toFixed(3)}\n`);
  for (const c of [...probes, 'all']) {
    const ratio = pairedRatio(r, 'pipe', c);
    assert.ok(ratio >= 0.9, `context-switch storm with ${c}: ${ratio.toFixed(3)} of the no-probe round trips per CPU-second (per run: ${perRun(r, 'pipe')})`);
  }
  const pf = pairedRatio(r, 'pagefault', 'all');
  assert.ok(pf >= 0.85, `page-fault storm with all probes: ${pf.toFixed(3)} of the no-probe pages per CPU-second (per run: ${perRun(r, 'pagefault')})`);
});
