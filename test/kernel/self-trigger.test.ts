// The self-trigger's uprobe is attached for every process (one for a single pid would be a
// per-task perf event, which puts perf's scheduler hooks on every context switch of the host),
// so the programs it runs must tell our calls from another process's: another process calling
// the trigger function makes no probe sample; our own trigger does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pafProbe, type PafRecord } from '../../src/probes/paf/definition.ts';
import { sysstatProbe, type SysstatRecord } from '../../src/probes/sysstat/definition.ts';
import { fireSelfTrigger } from '../../src/runtime/self-trigger.ts';
import { startProbe } from '../helpers/probe-harness.ts';

const NODE = process.execPath;
const FFI = join(import.meta.dirname, '../../src/libbpf/ffi.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Another process calls the trigger function `n` times, a few ms apart. */
function foreignCalls(n: number): void {
  execFileSync(NODE, ['--input-type=module', '-e', `const { native } = await import(${JSON.stringify(FFI)}); for (let i = 0; i < ${n}; i++) { native.libbpf_major_version(); await new Promise((r) => setTimeout(r, 20)); }`]);
}

for (const [name, def] of [['sysstat', sysstatProbe], ['paf', pafProbe]] as const) {
  test(`${name}: only mem-watcher's own trigger makes it sample, not another process calling the same function`, async () => {
    // A long interval: the runtime fires the trigger once at the first poll, then not again.
    const h = startProbe<SysstatRecord | PafRecord>(def as never, { MEMWATCHER_INTERVAL: '3600', [`MEMWATCHER_PROBES_${name.toUpperCase()}_STRATEGY`]: 'uprobe' });
    try {
      assert.equal(h.status.strategy, 'uprobe', JSON.stringify(h.status.refused));
      const samples = () => { h.poll(); return h.records.filter((r) => !('kind' in r) || r.kind === 'zones').length; };
      // (change detection hides a sample of unchanged counters, but free pages and LRU sizes
      // move every few ms on any host: over ten calls, a sample would show)
      await sleep(200);
      const first = samples();
      assert.ok(first >= 1, 'the first trigger sampled');
      foreignCalls(10);
      await sleep(100);
      assert.equal(samples(), first, 'another process calling the trigger function made the probe sample');
      fireSelfTrigger();
      const deadline = Date.now() + 3000;
      while (samples() === first && Date.now() < deadline) {
        await sleep(50);
        fireSelfTrigger();
      }
      assert.ok(samples() > first, 'our own trigger made it sample');
    } finally {
      h.stop();
    }
  });
}
