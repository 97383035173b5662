// procstat on the running kernel: a process holding known anonymous, file-backed and shared
// memory is reported with the values /proc/PID/status shows, after its own changes, after a
// change another process makes while it sleeps, and not at all once it exits; kernel threads
// never are. Each strategy this kernel runs (the task iterator, the tracepoints) is checked the
// same way.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/log.ts';
import { ProcessTable, procstatProbe, type ProcstatRecord, type ProcstatSample } from '../../src/probes/procstat/definition.ts';
import { loadProbe } from '../../src/runtime/attach.ts';
import { kernelAtLeast, readKernelInfo } from '../../src/host/kernel.ts';
import type { LoadedProbe, ProbeDefinition, ProbeSource } from '../../src/runtime/probe.ts';
import { buildHolder, differences, Holder, memoryKb, sleep, statusKb, type HolderBuild } from '../fixtures/procstat-holder.ts';

const INTERVAL_S = 0.5;
// What /proc/PID/status shows is the exact RSS (per-CPU deltas summed) up to 6.1, where there
// are none, and since 6.16 (get_mm_counter_sum in task_mem); from 6.2 to 6.15 it leaves the
// deltas out: up to 32+ pages per CPU per counter. The probe always reports the exact value.
const KERNEL = readKernelInfo();
const PROC_EXACT = !(kernelAtLeast(KERNEL, 6, 2) && !kernelAtLeast(KERNEL, 6, 16));
const TOLERANCE = PROC_EXACT ? 0 : 0.01;
const MB = 1024 * 1024;
const PF_KTHREAD = 0x00200000;
const TMPFS_MAGIC = 0x01021994;

interface RunningProbe {
  loaded: LoadedProbe;
  source: ProbeSource;
  table: ProcessTable;
  records: ProcstatRecord[];
  poll(): void;
  stop(): void;
}

function startProbe(strategy: string): RunningProbe {
  const { config } = loadConfig({ env: {}, flags: { interval: INTERVAL_S } });
  const ctx = { config: config.probes.procstat, interval: config.interval, log: silentLogger, kernel: KERNEL, othersRunning: false };
  const outcome = loadProbe(procstatProbe as ProbeDefinition<unknown, unknown>, ctx, strategy);
  if (!outcome.loaded) throw new Error(outcome.refused.map((r) => `${r.strategy}: ${r.reason}`).join('; '));
  const loaded = outcome.loaded;
  const table = new ProcessTable();
  const records: ProcstatRecord[] = [];
  const source = procstatProbe.start(loaded, ctx, (r) => {
    records.push(r);
    table.apply(r);
  });
  return {
    loaded, source, table, records,
    poll: () => source.poll(Date.now()),
    stop() {
      source.stop();
      loaded.obj.close();
    },
  };
}

/** Polls until `probe`'s latest values for `pid` equal /proc/PID/status; returns them. */
async function settled(probe: RunningProbe, pid: number, timeoutMs = 6 * INTERVAL_S * 1000): Promise<ProcstatSample> {
  const deadline = Date.now() + timeoutMs;
  let diff: string[] = ['no record'];
  for (;;) {
    probe.poll();
    const s = probe.table.get(pid);
    const status = statusKb(pid);
    assert.ok(status, `process ${pid} is gone`);
    if (s) {
      diff = differences(memoryKb(s.memory), status, TOLERANCE);
      if (diff.length === 0) return s;
    }
    if (Date.now() > deadline) assert.fail(`process ${pid} never matched /proc/${pid}/status: ${diff.join('; ')}`);
    await sleep(100);
  }
}

let build: HolderBuild;
before(() => { build = buildHolder(); });
after(() => build?.remove());

// Every strategy the running kernel allows (here: the tracepoints; the kernel matrix guests
// run the kprobe and fentry ones too); one it refuses is skipped with the kernel's reason.
for (const strategy of procstatProbe.strategies.map((s) => s.name)) {
  describe(`procstat through ${strategy}`, () => {
    let probe: RunningProbe | undefined;
    let refused = '';
    let holder: Holder | undefined;
    before(() => {
      try {
        probe = startProbe(strategy);
      } catch (err) {
        refused = (err as Error).message;
      }
    });
    after(() => {
      holder?.kill();
      probe?.stop();
    });

    test('reports a process with the values /proc/PID/status shows, through every change', async (t) => {
      if (!probe) return t.skip(`${strategy} refused by kernel ${KERNEL.release}: ${refused}`);
      assert.equal(probe.loaded.strategy.name, strategy);
      const data = build.dataFile(24);
      // Where /tmp is a tmpfs (the kernel matrix guests), the mapped file is shared memory too.
      const fileIsShmem = statfsSync(data).type === TMPFS_MAGIC;
      holder = await Holder.start(build.bin, data, 48, 24, 16);
      const pid = holder.pid;

      const idle = await settled(probe, pid);
      assert.equal(idle.comm, 'procstat-holder');
      const [fileMb, shmMb] = fileIsShmem ? [0, 40] : [24, 16];
      assert.ok(idle.memory.rssAnon >= 48 * MB, `RssAnon ${idle.memory.rssAnon}`);
      assert.ok(idle.memory.rssFile >= fileMb * MB, `RssFile ${idle.memory.rssFile}`);
      // (a few pages of a tmpfs file may be left unmapped: /proc, which this already matched,
      // counts the same)
      assert.ok(idle.memory.rssShmem >= (shmMb - 0.5) * MB && idle.memory.rssShmem < (shmMb + 1) * MB, `RssShmem ${idle.memory.rssShmem}`);

      // Another process reclaims the holder's file pages while it sleeps: the task iterator
      // reads every process each interval anyway; the switch strategies only learn it through
      // the rss_stat hook. (tmpfs pages could only go to swap.)
      if (strategy !== 'iter') assert.ok(probe.loaded.attached.includes('procstat_rss_stat'), 'rss_stat hook attached');
      let before = idle;
      if (!fileIsShmem) {
        execFileSync(build.bin, ['pageout', String(pid), holder.addresses.file, String(24 * MB)]);
        before = await settled(probe, pid);
        assert.ok(before.memory.rssFile < 12 * MB, `RssFile after pageout ${before.memory.rssFile}`);
      }

      // Its own changes, the second and third within the rate limit of the first: the last
      // ones are read after the interval, while the holder sleeps.
      await holder.command('free-anon 24');
      await holder.command('unmap-file');
      await holder.command('free-shm');
      const freed = await settled(probe, pid);
      assert.ok(freed.memory.rssAnon < 26 * MB && freed.memory.rssAnon >= 24 * MB, `RssAnon after free ${freed.memory.rssAnon}`);
      // (where /tmp is a tmpfs the holder's own executable pages are shared memory too)
      assert.ok(freed.memory.rssShmem < (fileIsShmem ? 1 * MB : 1), `RssShmem after free ${freed.memory.rssShmem}`);
      assert.ok(freed.memory.rssFile < 4 * MB, `RssFile after unmap ${freed.memory.rssFile}`);
      // The kernel raises hiwater_rss to the RSS of the moment when it is about to unmap (not
      // when another process reclaims), so the peak is the RSS just before the frees (as
      // get_mm_rss() has it: since 6.2 without the per-CPU deltas, hence the 1%).
      assert.ok(freed.memory.vmHwm >= 0.99 * before.memory.rss && freed.memory.vmHwm > freed.memory.rss, `VmHWM ${freed.memory.vmHwm}, RSS before the frees ${before.memory.rss}`);

      await holder.command('grow-anon 8');
      const grown = await settled(probe, pid);
      // (before 6.2 each thread holds back up to 64 page counts from the mm's counters, which
      // /proc and the probe read alike)
      assert.ok(grown.memory.rssAnon >= freed.memory.rssAnon + 8 * MB - 64 * 4096, `RssAnon after grow ${grown.memory.rssAnon}`);
    });

    test('a process that exits leaves with an exit record', async (t) => {
      if (!probe) return t.skip(`${strategy} refused`);
      assert.ok(holder);
      const pid = holder.pid;
      assert.ok(probe.table.get(pid), 'reported before it exits');
      await holder.exit();
      const deadline = Date.now() + 2000;
      while (!probe.records.some((r) => r.kind === 'exit' && r.pid === pid) && Date.now() < deadline) {
        probe.poll();
        await sleep(50);
      }
      assert.ok(probe.records.some((r) => r.kind === 'exit' && r.pid === pid), 'exit record');
      assert.equal(probe.table.get(pid), undefined);
    });

    test('kernel threads never appear', (t) => {
      if (!probe) return t.skip(`${strategy} refused`);
      probe.poll();
      const seen = new Set(probe.records.filter((r) => r.kind === 'sample').map((r) => r.pid));
      assert.ok(seen.size > 3, `saw ${seen.size} processes`);
      const kthreads: number[] = [];
      for (const d of readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
          if (flags & PF_KTHREAD) kthreads.push(Number(d));
        } catch { /* gone */ }
      }
      assert.ok(kthreads.length > 3, 'this host has kernel threads');
      assert.deepEqual(kthreads.filter((pid) => seen.has(pid)), []);
    });
  });
}

test('auto picks the first strategy this kernel allows and says which', () => {
  const probe = startProbe('auto');
  try {
    // Every supported kernel (5.10+) has task iterators: the first in the order, with no
    // program on the host's context switches or page faults.
    assert.equal(probe.loaded.strategy.name, 'iter');
    assert.equal(procstatProbe.strategies[0]!.name, 'iter');
    assert.deepEqual(probe.loaded.attached, ['procstat_iter', 'procstat_tp_btf_exit']);
  } finally {
    probe.stop();
  }
});
