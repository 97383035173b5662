// Real page allocation failures: a process maps 4000 huge pages (8 GB) that can only come from
// surplus pages, the kernel allocates them at mmap time until the allocator fails an order-9
// allocation, and the probe must report it as the kernel's own trace of the same event shows
// it (order, GFP names, migrate type, task), with a symbolized kernel stack from the allocator
// down to the mmap, the zones of the node matching /proc/zoneinfo, exact counts and the slow
// path's reclaim retries (the CLI's -a table: paf-cli.test.ts). Each strategy the kernel runs is
// checked (the kprobe pair where kprobes exist). Exhausting memory is only done where it is safe
// (the test guest): elsewhere the test says why it skips. The kernel frees the surplus pages
// itself when the mmap fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { pafProbe, type PafFailure, type PafRecord } from '../../src/probes/paf/definition.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';
import { startProbe } from '../helpers/probe-harness.ts';
import { scaled } from '../../harness/time-scale.ts';
import { provokeFailure, provokeRefusal, readZoneinfo } from '../fixtures/paf-provoke.ts';

const KERNEL = readKernelInfo();
const STRATEGIES = ['uprobe', 'tp_btf', 'tracepoint', ...(KERNEL.kprobes ? ['kprobe'] : [])];
const refusal = provokeRefusal('test/kernel/paf-failure.test.ts');

/** The kernel's own text of NULL-page events, from a private tracefs instance. */
function kernelTrace() {
  const dir = `${KERNEL.tracefs}/instances/memwatcher-paf-test-${process.pid}`;
  mkdirSync(dir);
  writeFileSync(`${dir}/events/kmem/mm_page_alloc/filter`, 'pfn == 0xffffffffffffffff');
  writeFileSync(`${dir}/events/kmem/mm_page_alloc/enable`, '1');
  return {
    lines(): Array<{ comm: string; pid: number; order: number; migratetype: number; gfp: string }> {
      return readFileSync(`${dir}/trace`, 'utf8').split('\n').flatMap((l) => {
        const m = /^\s*(.+)-(\d+)\s+\[\d+\].*mm_page_alloc: .*order=(\d+) migratetype=(-?\d+) gfp_flags=(\S+)/.exec(l);
        return m ? [{ comm: m[1]!.trim(), pid: Number(m[2]), order: Number(m[3]), migratetype: Number(m[4]), gfp: m[5]! }] : [];
      });
    },
    close() {
      writeFileSync(`${dir}/events/kmem/mm_page_alloc/enable`, '0');
      rmdirSync(dir);
    },
  };
}

for (const strategy of STRATEGIES) {
  test(`${strategy}: a real order-9 failure, as the kernel traced it, with stack, zones, counts and retries`, { skip: refusal, timeout: scaled(60_000) }, async () => {
    const h = startProbe<PafRecord>(pafProbe, { MEMWATCHER_PROBES_PAF_STRATEGY: strategy, MEMWATCHER_INTERVAL: '0.5' });
    const trace = kernelTrace();
    try {
      assert.equal(h.status.strategy, strategy, `paf did not attach with ${strategy}: ${JSON.stringify(h.status.refused)}`);
      // No polling meanwhile: the ring buffer holds the records, and a quiet test process is
      // less likely to need memory while there is none.
      const run = await provokeFailure();
      assert.ok(!run.mapped, `the mapping failed: the allocator gave up (${run.output})`);
      const f = (await h.waitFor((r) => r.kind === 'failure' && r.pid === run.pid && r.order === 9, 20_000)) as PafFailure;

      const k = trace.lines().find((l) => l.pid === run.pid && l.order === 9);
      assert.ok(k, 'the kernel traced the same failure');
      assert.equal(f.gfpNames, k.gfp, 'GFP names as the kernel prints them');
      assert.match(f.gfpNames, /__GFP_COMP/);
      assert.equal(f.migratetype, k.migratetype);
      assert.equal(f.tid, run.pid);
      assert.equal(f.comm, k.comm);
      assert.equal(f.source, strategy === 'kprobe' ? 'kretprobe' : 'tracepoint');

      const stack = f.stack.map((x) => x.symbol);
      if (strategy === 'kprobe' && stack.length === 0) {
        // 5.10 unwinds a kretprobe's stack no further than its trampoline: said, not faked.
        assert.match(f.stackError ?? '', /kretprobe trampoline/);
        assert.ok(!(KERNEL.version[0] > 5 || KERNEL.version[1] >= 13), `kernel ${KERNEL.release} should unwind past the trampoline`);
      } else {
        // The return probe fires once the allocator has returned: its stack starts at the caller.
        const top = strategy === 'kprobe' ? /^\w*alloc\w*(\.\w+)*\+/ : /^__alloc_(frozen_)?pages/;
        assert.match(stack[0] ?? '', top, `starts at the allocator (kprobe: its caller):\n${stack.join('\n')}`);
        assert.ok(stack.some((s) => /^hugetlb_reserve_pages\+/.test(s)), `the mmap reserving huge pages:\n${stack.join('\n')}`);
        assert.ok(stack.some((s) => /mmap/.test(s)), `down to the mmap:\n${stack.join('\n')}`);
        assert.ok(stack.every((s) => /^[\w.]+\+0x[0-9a-f]+( \[\w+\])?$/.test(s)), 'every frame symbolized');
      }

      // The zones at the moment of failure: static fields as /proc/zoneinfo has them now,
      // the zone the allocation wanted populated and close to its watermarks.
      const info = readZoneinfo().filter((z) => z.node === f.node);
      assert.deepEqual(f.zones.map((z) => z.name), info.map((z) => z.name));
      f.zones.forEach((z, i) => {
        const want = info[i]!;
        for (const key of ['present', 'managed', 'spanned'] as const) assert.equal(z[key], want[key], `${z.name}.${key}`);
        assert.equal(z.min - z.boost, want.min - want.boost, `${z.name}.min without boost`);
        assert.equal(z.high - z.boost, want.high - want.boost, `${z.name}.high without boost`);
      });
      assert.ok(f.zone && f.zone.managed > 0, `a target zone: ${JSON.stringify(f.zone)}`);
      assert.ok(f.zone.free < f.zone.high * 4, `${f.zone.name} was nearly exhausted: ${f.zone.free} free, high ${f.zone.high}`);

      // Counts are exact whatever the ring buffer dropped; retries come from the slow path.
      await new Promise((r) => setTimeout(r, 300));
      h.poll();
      const counted = h.records.flatMap((r) => (r.kind === 'counts' ? r.entries : [])).filter((e) => e.order === 9 && e.gfp === f.gfp).reduce((a, e) => a + e.count, 0);
      const detailed = h.records.filter((r) => r.kind === 'failure' && r.order === 9 && r.gfp === f.gfp).length;
      assert.ok(counted >= 1 && counted >= detailed, `counted ${counted}, detailed ${detailed}`);
      const retries = h.records.flatMap((r) => (r.kind === 'retries' ? r.entries : []));
      assert.ok(retries.some((e) => e.order === 9 && e.count > 0 && e.zoneName !== undefined), `reclaim retries of order 9: ${JSON.stringify(retries)}`);
    } finally {
      trace.close();
      h.stop();
    }
  });
}
