// The unwind-table parser (src/unwind/) against binutils' own interpretation of the same CFI:
// `readelf --debug-dump=frames-interp` of real Debian objects prints, per FDE, the rows
// (location, CFA, where each register is). Every row readelf prints, and the last address it
// covers, must give the same CFA rule, return-address rule and rbp rule in our table. Then
// hostile inputs: truncated and mutated sections parse without throwing or reading past them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildObjectTable, CFA_RULE, decodeRows, encodeRows, lookupRow, parseCfi, RBP_RULE, readUnwindElf, type ObjectTable, type UnwindRow } from '../../src/unwind/index.ts';

const OBJECTS = [
  '/usr/lib/x86_64-linux-gnu/libc.so.6',
  '/usr/lib/x86_64-linux-gnu/libstdc++.so.6',
  // Debian's redis-server package (apt-get install redis-server): stripped, PIE, -O2.
  '/usr/bin/redis-check-rdb',
];

interface RefRow {
  loc: number;
  cfa: string;
  rbp: string;
  ra: string;
}

interface RefFde {
  start: number;
  end: number;
  signal: boolean;
  rows: RefRow[];
}

/** readelf's frames-interp output: FDEs with their rows (an FDE without rows has its CIE's). */
function readelfFdes(path: string): RefFde[] {
  // readelf exits 1 on libc.so.6 with nothing on stderr (binutils 2.40); its output is whole.
  const r = spawnSync('readelf', ['--debug-dump=frames-interp', path], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const text = r.stdout;
  assert.match(text, /Contents of the \.(eh|debug)_frame section/, `readelf ${path}: ${r.stderr}`);
  const cies = new Map<string, { signal: boolean; rows: RefRow[] }>();
  const fdes: Array<RefFde & { cie: string }> = [];
  let rows: RefRow[] | undefined;
  let columns: string[] = [];
  for (const line of text.split('\n')) {
    let m = /^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ CIE "([^"]*)"/.exec(line);
    if (m) {
      const cie = { signal: m[2]!.includes('S'), rows: [] as RefRow[] };
      cies.set(m[1]!, cie);
      rows = cie.rows;
      continue;
    }
    m = /^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (m) {
      const fde = { cie: m[1]!, start: parseInt(m[2]!, 16), end: parseInt(m[3]!, 16), signal: false, rows: [] as RefRow[] };
      fdes.push(fde);
      rows = fde.rows;
      continue;
    }
    if (/^\s+LOC\s+CFA/.test(line)) {
      columns = line.trim().split(/\s+/);
      continue;
    }
    m = /^([0-9a-f]{16}) (.*)$/.exec(line);
    if (m && rows) {
      // A register rule prints as "r10 (r10)": one cell.
      const cells = m[2]!.replace(/(\S+) \(\w+\)/g, '$1').trim().split(/\s+/);
      const cell = (name: string) => {
        const i = columns.indexOf(name);
        return i < 1 ? 'u' : cells[i - 1] ?? 'u';
      };
      rows.push({ loc: parseInt(m[1]!, 16), cfa: cell('CFA'), rbp: cell('rbp'), ra: cell('ra') });
    }
  }
  return fdes.map((f) => {
    const cie = cies.get(f.cie);
    assert.ok(cie, `readelf: FDE of unknown CIE ${f.cie}`);
    const inherited = f.rows.length > 0 ? f.rows : cie.rows.map((r) => ({ ...r, loc: f.start }));
    return { start: f.start, end: f.end, signal: cie.signal, rows: inherited };
  });
}

/** What readelf's row should be in our terms. */
function expected(r: RefRow, signal: boolean): Omit<UnwindRow, 'start' | 'pltMin'> {
  const unsupported = { cfa: CFA_RULE.UNSUPPORTED, cfaOffset: 0, rbp: RBP_RULE.SAME, rbpOffset: 0 };
  if (r.ra === 'u') return { ...unsupported, cfa: CFA_RULE.END };
  if (signal || r.ra !== 'c-8') return unsupported;
  let cfa: number = CFA_RULE.UNSUPPORTED;
  let cfaOffset = 0;
  const m = /^(rsp|rbp)\+(\d+)$/.exec(r.cfa);
  if (m) {
    cfa = m[1] === 'rsp' ? CFA_RULE.RSP : CFA_RULE.RBP;
    cfaOffset = Number(m[2]);
  } else if (r.cfa === 'exp') cfa = CFA_RULE.PLT; // checked below: only PLT stubs have them here
  else return unsupported;
  let rbp: number = RBP_RULE.SAME;
  let rbpOffset = 0;
  const s = /^c([+-]\d+)$/.exec(r.rbp);
  if (s) {
    rbp = RBP_RULE.OFFSET;
    rbpOffset = Number(s[1]);
  } else if (r.rbp !== 'u' && r.rbp !== 's') rbp = RBP_RULE.LOST;
  if (cfa === CFA_RULE.PLT) return { cfa, cfaOffset: 8, rbp: RBP_RULE.SAME, rbpOffset: 0 };
  return { cfa, cfaOffset, rbp, rbpOffset };
}

function table(path: string): ObjectTable {
  const fd = openSync(path, 'r');
  try {
    return buildObjectTable(fd);
  } finally {
    closeSync(fd);
  }
}

/** Checks every row readelf prints (first, middle and last address) against our table. */
function compareWithReadelf(path: string, minFdes: number, expectPlt: boolean): void {
  const rows = table(path).rows;
  const fdes = readelfFdes(path);
  assert.ok(fdes.length >= minFdes, `readelf printed ${fdes.length} FDEs`);
  let checked = 0;
  let plt = 0;
  const pick = (r: UnwindRow | undefined) => r && { cfa: r.cfa, cfaOffset: r.cfaOffset, rbp: r.rbp, rbpOffset: r.rbpOffset };
  for (const f of fdes) {
    f.rows.forEach((ref, i) => {
      const want = expected(ref, f.signal);
      const last = (f.rows[i + 1]?.loc ?? f.end) - 1;
      for (const addr of new Set([ref.loc, last, (ref.loc + last) >> 1])) {
        const got = lookupRow(rows, addr);
        if (want.cfa === CFA_RULE.PLT && got?.cfa !== CFA_RULE.PLT) {
          // An expression other than the PLT pattern: ours says UNSUPPORTED.
          assert.equal(got?.cfa, CFA_RULE.UNSUPPORTED, `${path} 0x${addr.toString(16)}: exp`);
          continue;
        }
        if (want.cfa === CFA_RULE.PLT) {
          plt++;
          assert.ok(got!.pltMin === 11 || got!.pltMin === 10, `PLT threshold ${got!.pltMin}`);
        }
        assert.deepEqual(pick(got), want, `${path} 0x${addr.toString(16)} (readelf row ${JSON.stringify(ref)})`);
        checked++;
      }
    });
    // Right past an FDE either another one starts or no rule applies.
    const after = lookupRow(rows, f.end);
    if (!fdes.some((g) => g.start <= f.end && f.end < g.end)) assert.equal(after?.cfa, CFA_RULE.NONE, `${path} 0x${f.end.toString(16)}: past an FDE`);
  }
  assert.ok(checked >= minFdes, `${checked} addresses checked`);
  if (expectPlt) assert.ok(plt > 0, 'the PLT stub rule was seen');
  // Sorted, strictly increasing, adjacent rows differ.
  const all = rows.toArray();
  for (let i = 1; i < all.length; i++) {
    assert.ok(all[i - 1]!.start < all[i]!.start, `rows out of order at ${i}`);
    const { start: _a, ...prev } = all[i - 1]!;
    const { start: _b, ...cur } = all[i]!;
    assert.notDeepEqual(prev, cur, `rows ${i - 1} and ${i} hold the same rule`);
  }
  assert.deepEqual(decodeRows(encodeRows(all)), all);
}

for (const path of OBJECTS) {
  test(`unwind table of ${path} agrees with readelf --debug-dump=frames-interp`, { skip: !existsSync(path) && `${path} is not installed` }, () => {
    compareWithReadelf(path, 1000, true);
  });
}

test('.debug_frame when .eh_frame has no FDE (-fno-asynchronous-unwind-tables), and no CFI at all', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unwind-test-'));
  try {
    const src = join(dir, 'df.c');
    writeFileSync(src, [
      'int g(int);',
      '__attribute__((noinline)) int f(int x) { volatile char b[100]; b[x] = 1; return g(x) + b[3]; }',
      'int g(int x) { return x * 3; }',
      '',
    ].join('\n'));
    const lib = join(dir, 'libdf.so');
    execFileSync('gcc', ['-O2', '-g', '-shared', '-fPIC', '-fno-asynchronous-unwind-tables', '-nostdlib', '-o', lib, src]);
    assert.equal(table(lib).source, 'debug_frame');
    compareWithReadelf(lib, 2, false);
    const bare = join(dir, 'libbare.so');
    execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-fno-asynchronous-unwind-tables', '-nostdlib', '-o', bare, src]);
    const t = table(bare);
    assert.equal(t.source, 'none');
    assert.equal(t.rows.length, 0);
    assert.ok(t.loads.some((l) => l.executable));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hostile .eh_frame bytes: truncations and mutations never throw or run away', () => {
  const fd = openSync('/usr/lib/x86_64-linux-gnu/libc.so.6', 'r');
  const elf = readUnwindElf(fd);
  closeSync(fd);
  const eh = elf.frames[0]!;
  assert.equal(eh.kind, 'eh_frame');
  const data = eh.data.subarray(0, 64 << 10);
  const full = parseCfi({ kind: 'eh_frame', addr: eh.addr, data });
  assert.ok(full.rows.length > 100);
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 200; i++) {
    const copy = Buffer.from(data.subarray(0, Math.floor(rand() * data.length)));
    for (let k = 0; k < 20; k++) copy[Math.floor(rand() * copy.length)] = Math.floor(rand() * 256);
    const t = parseCfi({ kind: i % 2 ? 'eh_frame' : 'debug_frame', addr: eh.addr, data: copy });
    for (let j = 1; j < t.rows.length; j++) assert.ok(t.rows.startAt(j - 1) < t.rows.startAt(j));
  }
  // A length field pointing far past the end, and one 64-bit length.
  const huge = Buffer.from(data.subarray(0, 64));
  huge.writeUInt32LE(0xfffffff0, 0);
  assert.equal(parseCfi({ kind: 'eh_frame', addr: 0, data: huge }).rows.length, 0);
  const long = Buffer.alloc(32);
  long.writeUInt32LE(0xffffffff, 0);
  long.writeBigUInt64LE(1n << 62n, 4);
  assert.equal(parseCfi({ kind: 'eh_frame', addr: 0, data: long }).rows.length, 0);
});
