// Kernel stack symbolization from /proc/kallsyms text: only text symbols count, module symbols
// (listed after the core kernel's, out of address order) are sorted in, an address resolves to
// the last symbol at or below it, and a table of zero addresses (kptr_restrict) says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFrame, KernelSymbols } from '../../src/host/kallsyms.ts';

const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81000000 T startup_64',
  'ffffffff81001000 t helper_static',
  'ffffffff81002000 D some_data_object',
  'ffffffff81003000 T __alloc_pages',
  'ffffffff81003400 W weak_fn',
  'ffffffff82000000 r __ksymtab_thing',
  'ffffffffc0a01000 t xfs_buf_alloc\t[xfs]',
  'ffffffffc0200000 t bpf_prog_abc_paf_tp_btf\t[bpf]',
  'ffffffffc0a00000 T xfs_init\t[xfs]',
  '',
].join('\n');

test('resolves addresses to function+0xoff, with the module in brackets', () => {
  const k = KernelSymbols.parse(KALLSYMS);
  assert.equal(k.restricted, false);
  assert.equal(k.size, 8, 'data and read-only symbols are left out');
  assert.equal(k.format(0xffffffff81003000n), '__alloc_pages+0x0');
  assert.equal(k.format(0xffffffff810031a5n), '__alloc_pages+0x1a5');
  assert.equal(k.format(0xffffffff81002010n), 'helper_static+0x1010', 'a data symbol does not split a function');
  assert.equal(k.format(0xffffffff81003410n), 'weak_fn+0x10');
  assert.equal(k.format(0xffffffffc0a01234n), 'xfs_buf_alloc+0x234 [xfs]');
  assert.equal(k.format(0xffffffffc0a00010n), 'xfs_init+0x10 [xfs]', 'module symbols sorted in');
  assert.equal(k.format(0xffffffffc0200040n), 'bpf_prog_abc_paf_tp_btf+0x40 [bpf]');
});

test('aliases at one address: the last listed wins, consistently', () => {
  const k = KernelSymbols.parse(KALLSYMS);
  assert.equal(k.resolve(0xffffffff81000010n)?.name, 'startup_64');
});

test('below the first symbol: the bare address', () => {
  const k = KernelSymbols.parse(KALLSYMS);
  assert.equal(k.resolve(0xffffffff80000000n), undefined);
  assert.equal(k.format(0xffffffff80000000n), '0xffffffff80000000');
  assert.equal(formatFrame(0x1234n, undefined), '0x1234');
});

test('kptr_restrict: every address 0, the table says it is restricted', () => {
  const k = KernelSymbols.parse('0000000000000000 T _stext\n0000000000000000 t foo\t[bar]\n');
  assert.equal(k.restricted, true);
  assert.equal(k.size, 0);
  assert.equal(k.format(0xffffffff81003000n), '0xffffffff81003000');
});

test('a sorted table of many symbols resolves by binary search', () => {
  const lines: string[] = [];
  for (let i = 0; i < 50_000; i++) lines.push(`${(0xffffffff81000000n + BigInt(i) * 0x40n).toString(16)} t f${i}`);
  const k = KernelSymbols.parse(lines.join('\n'));
  assert.equal(k.format(0xffffffff81000000n + 12345n * 0x40n + 0x3fn), 'f12345+0x3f');
  assert.equal(k.format(0xffffffff81000000n + 49999n * 0x40n + 0x100n), 'f49999+0x100', 'past the last symbol: the last one');
});
