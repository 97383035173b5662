// GFP flag names: the table read from kmem:mm_page_alloc's print fmt of real kernels (6.1 and
// 6.12 from Debian's kernels in the test guest, 6.18 from this host) must render every mask the
// way that kernel itself rendered it in its trace output (test/fixtures/paf-gfp-*.tsv, captured
// with test/fixtures/paf-capture.sh); the built-in table, used without tracefs, must match the
// real ones on every flag whose value is the same in all kernels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinGfpTable, decodeGfp, GfpDecoder, GfpFormatError, gfpZoneName, loadGfpTable, migratetypeNames, parseGfpFormat } from '../../src/host/gfp.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');
const KERNELS = [
  { name: '6.1', version: [6, 1] as const },
  { name: '6.12', version: [6, 12] as const },
  { name: '6.18', version: [6, 18] as const },
];

const format = (k: string) => readFileSync(join(FIXTURES, `paf-format-${k}.txt`), 'utf8');
function pairs(k: string): Array<[bigint, string]> {
  return readFileSync(join(FIXTURES, `paf-gfp-${k}.tsv`), 'utf8').trim().split('\n').map((l) => {
    const [hex, text] = l.split('\t');
    return [BigInt(hex!), text!];
  });
}

for (const k of KERNELS) {
  test(`${k.name}: every mask renders as that kernel printed it`, () => {
    const flags = parseGfpFormat(format(k.name));
    const seen = pairs(k.name);
    assert.ok(seen.length >= 8, 'the fixture has a spread of masks');
    for (const [mask, kernelText] of seen) assert.equal(decodeGfp(mask, flags), kernelText, `0x${mask.toString(16)}`);
  });
}

test('6.1: the nr_hugepages allocation that fails in the guest, as its trace output names it', () => {
  const flags = parseGfpFormat(format('6.1'));
  assert.equal(decodeGfp(0x346cca, flags), 'GFP_HIGHUSER_MOVABLE|__GFP_NOWARN|__GFP_RETRY_MAYFAIL|__GFP_COMP|__GFP_THISNODE');
});

test('tables differ between kernels where the kernels differ', () => {
  const t61 = parseGfpFormat(format('6.1'));
  const t618 = parseGfpFormat(format('6.18'));
  const value = (t: typeof t61, name: string) => t.find((f) => f.name === name)?.mask;
  assert.equal(value(t61, 'GFP_KERNEL'), 0xcc0n);
  assert.equal(value(t618, 'GFP_KERNEL'), 0xcc0n);
  assert.equal(value(t61, '__GFP_ATOMIC'), 0x200n, '6.1 still has __GFP_ATOMIC');
  assert.equal(value(t618, '__GFP_ATOMIC'), undefined, 'gone in 6.4');
  assert.equal(value(t61, 'GFP_ATOMIC'), 0xa20n);
  assert.equal(value(t618, 'GFP_ATOMIC'), 0x820n);
  assert.equal(value(t618, '__GFP_NO_OBJ_EXT'), 0x1000000n);
  // Same mask, other rendering: the single flags come in another order.
  assert.equal(decodeGfp(0x140dca, t61), 'GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO');
  assert.equal(decodeGfp(0x140dca, t618), 'GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP');
});

test('decoding: composites first and greedy, then single bits, then leftover hex; 0 is none', () => {
  const flags = parseGfpFormat(format('6.18'));
  assert.equal(decodeGfp(0, flags), 'none');
  assert.equal(decodeGfp(0xcc0, flags), 'GFP_KERNEL');
  assert.equal(decodeGfp(0xcc0 | 0x2000, flags), 'GFP_KERNEL|__GFP_NOWARN');
  assert.equal(decodeGfp(0x40000000, flags), '0x40000000', 'a bit no flag names');
  assert.equal(decodeGfp(0xcc0 | 0x40000000, flags), 'GFP_KERNEL|0x40000000');
  // GFP_KERNEL is listed before GFP_NOFS: a mask with __GFP_FS is GFP_KERNEL, one without GFP_NOFS.
  assert.equal(decodeGfp(0xc40, flags), 'GFP_NOFS');
  assert.equal(decodeGfp(0x400, flags), '__GFP_DIRECT_RECLAIM');
  assert.equal(decodeGfp(2n ** 63n, flags), '0x8000000000000000', '64-bit masks');
});

test('the decoder caches and returns the same text', () => {
  const d = new GfpDecoder({ flags: parseGfpFormat(format('6.18')), source: 'tracefs' });
  assert.equal(d.decode(0xcc0), 'GFP_KERNEL');
  assert.equal(d.decode(0xcc0n), 'GFP_KERNEL');
});

test('the built-in table equals each real one except the config-dependent bits (23 and up)', () => {
  for (const k of KERNELS) {
    const real = parseGfpFormat(format(k.name)).filter((f) => f.mask < 1n << 23n);
    const builtin = builtinGfpTable(k.version).flags;
    assert.deepEqual(builtin.map((f) => `${f.name}=0x${f.mask.toString(16)}`), real.map((f) => `${f.name}=0x${f.mask.toString(16)}`), k.name);
    for (const [mask, text] of pairs(k.name)) assert.equal(decodeGfp(mask, builtin), text, `${k.name} 0x${mask.toString(16)}`);
  }
});

test('unreadable print fmt: an error naming what is missing', () => {
  assert.throws(() => parseGfpFormat('print fmt: "page=%p", REC->page'), GfpFormatError);
  assert.throws(() => parseGfpFormat('print fmt: "%s", __print_flags(REC->gfp_flags, "|", {( unsigned long)(weird_symbol), "X"} )'), /weird_symbol/);
  assert.throws(() => parseGfpFormat('print fmt: "%s", __print_flags(REC->gfp_flags, "|", { -1, NULL } )'), /empty/);
});

test('loadGfpTable: tracefs when readable, else the built-in table and why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gfp-'));
  try {
    mkdirSync(join(dir, 'events/kmem/mm_page_alloc'), { recursive: true });
    writeFileSync(join(dir, 'events/kmem/mm_page_alloc/format'), format('6.1'));
    const ok = loadGfpTable(dir, [6, 1]);
    assert.equal(ok.table.source, 'tracefs');
    assert.equal(ok.fallbackReason, undefined);
    assert.ok(ok.table.flags.some((f) => f.name === '__GFP_ZEROTAGS'));

    const none = loadGfpTable(undefined, [6, 18]);
    assert.equal(none.table.source, 'builtin');
    assert.match(none.fallbackReason!, /tracefs is not mounted/);

    const missing = loadGfpTable(join(dir, 'nope'), [6, 18]);
    assert.equal(missing.table.source, 'builtin');
    assert.match(missing.fallbackReason!, /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('gfp_zone(): the zone an allocation starts from', () => {
  assert.equal(gfpZoneName(0xcc0), 'Normal'); // GFP_KERNEL
  assert.equal(gfpZoneName(0xcc1), 'DMA');
  assert.equal(gfpZoneName(0xcc4), 'DMA32');
  assert.equal(gfpZoneName(0x100cca), 'Movable'); // GFP_HIGHUSER_MOVABLE
  assert.equal(gfpZoneName(0x100cc2), 'HighMem'); // GFP_HIGHUSER
  assert.equal(gfpZoneName(0xcc8), 'Normal', '__GFP_MOVABLE alone stays in Normal');
});

test('migrate type names from /proc/pagetypeinfo, else the stable four', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mt-'));
  try {
    const f = join(dir, 'pagetypeinfo');
    writeFileSync(f, 'Page block order: 9\n\nNumber of blocks type     Unmovable      Movable  Reclaimable   HighAtomic          CMA      Isolate \nNode 0, zone      DMA            1            7            0            0            0            0 \n');
    assert.deepEqual(migratetypeNames(f), ['Unmovable', 'Movable', 'Reclaimable', 'HighAtomic', 'CMA', 'Isolate']);
    assert.deepEqual(migratetypeNames(join(dir, 'absent')), ['Unmovable', 'Movable', 'Reclaimable', 'HighAtomic']);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
