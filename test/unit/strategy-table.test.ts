// The strategy table of docs/architecture.md is the committed kernel matrix, rendered; and that matrix holds
// every strategy of every registered probe on every kernel it covers, so a probe or strategy
// cannot be added without a run of `npm run test:kernels -- --update` (which refreshes both).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHITECTURE } from '../../scripts/update-readme.ts';
import { declaredStrategies, readProbeNotes, renderStrategyTable, withStrategyTable } from '../../scripts/strategy-table.ts';
import { COMMITTED_MATRIX, expectationFor, formatResult, formatTsv, KERNELS_DIR, parseExpected, parseResult, parseTsv, readExpected, readTsv, rowsFromOutput, seriesOf, type MatrixRow } from '../kernels/matrix-format.ts';

const matrix = readTsv(COMMITTED_MATRIX);

test('the strategy table of docs/architecture.md is test/kernels/strategy-matrix.tsv rendered (node scripts/strategy-table.ts --write)', () => {
  const doc = readFileSync(ARCHITECTURE, 'utf8');
  assert.equal(doc, withStrategyTable(doc));
});

test('strategy-matrix.tsv has every strategy of every registered probe on every kernel it covers, and nothing else', () => {
  const kernels = [...new Set(matrix.map((r) => r.kernel))];
  const want: string[] = [];
  for (const k of kernels) {
    for (const { probe, strategies } of declaredStrategies()) {
      if (!strategies) want.push(`${k} ${probe} - not-implemented`);
      else for (const s of strategies) want.push(`${k} ${probe} ${s.name}`);
    }
  }
  const have = matrix.filter((r) => r.variant === '-').map((r) => `${r.kernel} ${r.probe} ${r.strategy}${r.outcome === 'not-implemented' ? ' not-implemented' : ''}`);
  assert.deepEqual([...have].sort(), [...want].sort(), 'run `npm run test:kernels -- --update` after adding or changing a probe or strategy');
});

test('strategy-matrix.tsv covers every kernel of kernels.list and every series expected.tsv judges', () => {
  const series = new Set(matrix.map((r) => seriesOf(r.kernel)));
  const listed = readFileSync(join(KERNELS_DIR, 'kernels.list'), 'utf8').split('\n')
    .map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => l.split(/\s+/)[0]!);
  for (const s of [...listed, ...readExpected().map((r) => r.series)]) assert.ok(series.has(s), `no ${s} kernel in ${COMMITTED_MATRIX}`);
});

test('RESULT lines carry kernel, variant, probe, strategy, outcome and a one-line reason both ways', () => {
  const row = { kernel: '6.1.0-56-amd64', variant: '-', probe: 'sysstat', strategy: 'kprobe', outcome: 'unavailable' as const, detail: 'kprobes not\ncompiled in' };
  const line = formatResult(row);
  assert.equal(line, 'RESULT kernel=6.1.0-56-amd64 probe=sysstat strategy=kprobe unavailable: kprobes not compiled in');
  assert.deepEqual(parseResult(line), { ...row, detail: 'kprobes not compiled in' });
  assert.equal(formatResult({ ...row, variant: 'mglru', probe: 'pr', outcome: 'pass', detail: '' }), 'RESULT kernel=6.1.0-56-amd64 variant=mglru probe=pr strategy=kprobe pass');
  assert.equal(parseResult('RESULT kernel=6.1 probe=pr strategy=kprobe skip'), undefined);
  const rows = rowsFromOutput(['HOOKS probe=sysstat strategy=kprobe kprobe finish_task_switch', '  noise', line]);
  assert.equal(rows[0]!.hooks, 'kprobe finish_task_switch');
  assert.deepEqual(parseTsv(formatTsv(rows)), rows);
});

test('expectations: the last matching line wins, and an unknown series is not judged', () => {
  const rules = parseExpected('6.1 * * available\n6.1 sysstat fentry unavailable no BTF # why\n', 'x');
  assert.equal(expectationFor(rules, '6.1', 'sysstat', 'fentry')?.expect, 'unavailable');
  assert.equal(expectationFor(rules, '6.1', 'sysstat', 'kprobe')?.expect, 'available');
  assert.equal(expectationFor(rules, '6.2', 'sysstat', 'kprobe'), undefined);
  assert.throws(() => parseExpected('6.1 sysstat kprobe maybe', 'x'), /x:1/);
  assert.equal(seriesOf('6.12.117+deb12-amd64'), '6.12');
});

test('the table: kernels by version, a column for the MGLRU pass, reasons as numbered notes', () => {
  const r = (kernel: string, strategy: string, outcome: MatrixRow['outcome'], detail = '', variant = '-'): MatrixRow =>
    ({ kernel, variant, probe: 'pr', strategy, outcome, hooks: strategy === 'kprobe' ? 'kprobe shrink_folio_list' : '', detail });
  const rows = [
    r('6.12.1', 'kprobe', 'pass'), r('6.1.0-9', 'kprobe', 'pass'), r('6.1.0-9', 'kprobe', 'pass', 'counters stay 0 under MGLRU', 'mglru'),
    r('6.18.4', 'kprobe', 'unavailable', 'kprobes not compiled in'),
    { kernel: '6.1.0-9', variant: '-', probe: 'paf', strategy: '-', outcome: 'not-implemented' as const, hooks: '', detail: '' },
  ];
  const table = renderStrategyTable(rows, [{ probe: 'pr', strategies: [{ name: 'kprobe', note: 'the original tool\'s' }] }, { probe: 'paf' }], new Map([['pr', 'a|b']]));
  const lines = table.split('\n');
  assert.ok(lines.includes('| probe | strategy | hooks | 6.1 | 6.1 MGLRU | 6.12 | 6.18 | notes |'), table);
  assert.ok(lines.includes('| **pr** | | | | | | | a\\|b |'), table);
  assert.ok(lines.includes('| | 1. `kprobe` | kprobe shrink_folio_list | pass | pass [1] | pass | n/a [2] | the original tool\'s |'), table);
  assert.ok(lines.includes('| **paf** | not implemented yet | | | | | | |'), table);
  assert.ok(lines.includes('1. counters stay 0 under MGLRU') && lines.includes('2. kprobes not compiled in'), table);
});

test('every probe with a row in the table has a note on how it reaches its data', () => {
  const notes = readProbeNotes();
  for (const { probe, strategies } of declaredStrategies()) if (strategies) assert.ok(notes.get(probe), `no line for ${probe} in test/kernels/probe-notes.tsv`);
});
