// GFP names on the running kernel: the probe's table is read from this kernel's own
// mm_page_alloc format file, and every GFP mask the kernel itself renders in its trace output
// while allocations happen must render the same through our decoder. A private tracefs
// instance records a moment of ordinary allocations; its buffer is read as text, then again
// with options/fields (raw values: 6.x kernels that have that option), giving the same events
// in the same order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { decodeGfp, loadGfpTable } from '../../src/host/gfp.ts';
import { readKernelInfo } from '../../src/host/kernel.ts';

const KERNEL = readKernelInfo();
const NO_TRACEFS = KERNEL.tracefs ? undefined : 'tracefs is not mounted (scripts/setup.sh mounts it at /sys/kernel/tracing)';

test('the table comes from this kernel\'s tracefs, not the built-in one', { skip: NO_TRACEFS }, () => {
  const { table, fallbackReason } = loadGfpTable(KERNEL.tracefs, KERNEL.version);
  assert.equal(fallbackReason, undefined);
  assert.equal(table.source, 'tracefs');
  const names = table.flags.map((f) => f.name);
  for (const n of ['GFP_KERNEL', 'GFP_HIGHUSER_MOVABLE', '__GFP_NOWARN', '__GFP_COMP']) assert.ok(names.includes(n), n);
  assert.equal(table.flags.find((f) => f.name === 'GFP_KERNEL')?.mask, 0xcc0n);
});

test('every mask the kernel traces renders as the kernel renders it', { skip: NO_TRACEFS }, (t) => {
  const dir = `${KERNEL.tracefs}/instances/memwatcher-gfp-test-${process.pid}`;
  mkdirSync(dir);
  let text: string[];
  let raw: string[];
  try {
    if (!existsSync(`${dir}/options/fields`)) {
      t.skip(`kernel ${KERNEL.release} has no tracefs options/fields to read raw values (6.1 pairs are checked in test/unit/gfp.test.ts)`);
      return;
    }
    writeFileSync(`${dir}/buffer_size_kb`, '2048');
    writeFileSync(`${dir}/events/kmem/mm_page_alloc/enable`, '1');
    try {
      execFileSync('sh', ['-c', 'for i in 1 2 3 4 5; do ls -l /proc/self/ > /dev/null; done; cat /proc/zoneinfo > /dev/null']); // fork, exec, page cache, slab
    } finally {
      writeFileSync(`${dir}/events/kmem/mm_page_alloc/enable`, '0');
    }
    const lines = () => readFileSync(`${dir}/trace`, 'utf8').split('\n').filter((l) => l.includes('mm_page_alloc:'));
    text = lines();
    writeFileSync(`${dir}/options/fields`, '1');
    raw = lines();
  } finally {
    rmdirSync(dir);
  }
  assert.equal(raw.length, text.length);
  assert.ok(text.length > 100, `${text.length} allocations traced`);
  const { table } = loadGfpTable(KERNEL.tracefs, KERNEL.version);
  const seen = new Map<string, string>();
  text.forEach((l, i) => {
    const kernelText = /gfp_flags=(\S+)/.exec(l)?.[1];
    const value = /gfp_flags=(0x[0-9a-f]+)/.exec(raw[i]!)?.[1];
    assert.ok(kernelText && value, `${l}\n${raw[i]}`);
    seen.set(value, kernelText);
  });
  assert.ok(seen.size >= 3, `${seen.size} distinct masks`);
  for (const [value, kernelText] of seen) assert.equal(decodeGfp(BigInt(value), table.flags), kernelText, value);
});
