// The pprof writer, read back with pprof-format's decoder (no `go tool pprof` on this machine).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { encodePprof, writePprof, type PprofSample } from '../../src/symbolize/pprof.ts';
import { parseMaps } from '../../src/host/maps.ts';
import type { Frame } from '../../src/symbolize/frame.ts';

interface Decoded {
  sampleTypes: string[][];
  defaultType: string;
  samples: Array<{ stack: string[][]; values: bigint[]; labels: Record<string, string | bigint> }>;
  mappings: Array<{ id: bigint; start: bigint; limit: bigint; offset: bigint; file: string; buildId: string; hasFunctions: boolean; hasLines: boolean; hasInline: boolean }>;
  locations: Map<bigint, { mapping: bigint; address: bigint }>;
  timeNanos: bigint;
  comments: string[];
  strings: string[];
}

/** Profile -> samples as stacks of `function file:line` names, per location innermost first. */
function readProfile(buf: Buffer): Decoded {
  const p = Profile.decode(buf);
  const strings = p.stringTable.strings;
  const s = (i: number | bigint) => {
    const v = strings[Number(i)];
    assert.ok(v !== undefined, `string index ${i} in table`);
    return v;
  };
  const big = (v: number | bigint) => BigInt(v);
  const functions = new Map(p.function.map((f) => [big(f.id), { name: s(f.name), file: s(f.filename) }]));
  const locations = new Map(p.location.map((l) => [big(l.id), {
    mapping: big(l.mappingId),
    address: big(l.address),
    lines: l.line.map((line) => {
      const fn = functions.get(big(line.functionId));
      assert.ok(fn, 'line names a known function');
      return `${fn.name} ${fn.file}:${line.line}`;
    }),
  }]));
  return {
    strings,
    sampleTypes: p.sampleType.map((vt) => [s(vt.type), s(vt.unit)]),
    defaultType: s(p.defaultSampleType),
    samples: p.sample.map((smp) => ({
      stack: smp.locationId.map((id) => {
        const loc = locations.get(big(id));
        assert.ok(loc, `location ${id} exists`);
        return loc.lines;
      }),
      values: smp.value.map(big),
      labels: Object.fromEntries(smp.label.map((l) => [s(l.key), Number(l.str) !== 0 ? s(l.str) : big(l.num)])),
    })),
    mappings: p.mapping.map((m) => ({
      id: big(m.id), start: big(m.memoryStart), limit: big(m.memoryLimit), offset: big(m.fileOffset), file: s(m.filename), buildId: s(m.buildId),
      hasFunctions: m.hasFunctions, hasLines: m.hasLineNumbers, hasInline: m.hasInlineFrames,
    })),
    locations: new Map([...locations].map(([id, l]) => [id, { mapping: l.mapping, address: l.address }])),
    timeNanos: big(p.timeNanos),
    comments: p.comment.map(s),
  };
}

const MAPS = parseMaps([
  '555555554000-555555555000 r--p 00000000 fe:01 11 /usr/bin/leaky',
  '555555555000-555555556000 r-xp 00001000 fe:01 11 /usr/bin/leaky',
  '7ffff7c00000-7ffff7c26000 r--p 00000000 fe:01 22 /usr/lib/x86_64-linux-gnu/libc.so.6',
  '7ffff7c26000-7ffff7d7b000 r-xp 00026000 fe:01 22 /usr/lib/x86_64-linux-gnu/libc.so.6',
].join('\n'));
MAPS[1]!.buildId = 'ab12cd34';

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const malloc: Frame = { address: 0x7ffff7c9a0a0n, module: LIBC, function: 'malloc', moduleStart: 0x740a0n, offset: 0n };
const leakSession: Frame = {
  address: 0x555555555189n, module: '/usr/bin/leaky', function: 'leak_session_cache', moduleStart: 0x1170n, offset: 0x19n, file: '/src/leaky.c', line: 28,
  inlined: [{ address: 0x555555555189n, function: 'alloc_inline', file: '/src/alloc.h', line: 5 }],
};
const leakRequest: Frame = { address: 0x5555555551c4n, module: '/usr/bin/leaky', function: 'leak_request', moduleStart: 0x11b0n, offset: 0x14n, file: '/src/leaky.c', line: 40 };
const main: Frame = { address: 0x555555555230n, module: '/usr/bin/leaky', function: 'main', moduleStart: 0x1200n, offset: 0x30n, file: '/src/leaky.c', line: 77 };
const unknown: Frame = { address: 0x7ffff7c27000n, module: LIBC };

const SAMPLES: PprofSample[] = [
  { frames: [malloc, leakSession, main], bytes: 40960, allocations: 10, labels: { pid: 4242, comm: 'leaky' } },
  { frames: [malloc, leakRequest, main, unknown], bytes: 3072, allocations: 3 },
];

describe('pprof writer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-pprof-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a gzipped Profile with inuse_objects/count and inuse_space/bytes, values per stack, functions and lines', async () => {
    const path = join(dir, 'heap.pb.gz');
    await writePprof(path, SAMPLES, { mappings: MAPS, timeNanos: 1_700_000_000_000_000_000n, comments: ['mem-watcher memleak pid 4242'] });
    assert.deepEqual(readdirSync(dir), ['heap.pb.gz'], 'no temporary file left behind');
    const raw = readFileSync(path);
    assert.deepEqual([...raw.subarray(0, 2)], [0x1f, 0x8b], 'gzip, as pprof files are on disk');
    const p = readProfile(gunzipSync(raw));
    assert.equal(p.strings[0], '', 'string_table[0] is the empty string');
    assert.deepEqual(p.sampleTypes, [['inuse_objects', 'count'], ['inuse_space', 'bytes']]);
    assert.equal(p.defaultType, 'inuse_space');
    assert.equal(p.timeNanos, 1_700_000_000_000_000_000n);
    assert.deepEqual(p.comments, ['mem-watcher memleak pid 4242']);
    assert.deepEqual(p.samples[0], {
      values: [10n, 40960n],
      labels: { pid: 4242n, comm: 'leaky' },
      stack: [
        ['malloc :0'],
        ['alloc_inline /src/alloc.h:5', 'leak_session_cache /src/leaky.c:28'],
        ['main /src/leaky.c:77'],
      ],
    });
    assert.deepEqual(p.samples[1], {
      values: [3n, 3072n],
      labels: {},
      stack: [['malloc :0'], ['leak_request /src/leaky.c:40'], ['main /src/leaky.c:77'], []],
    });
  });

  test('a link planted at the old predictable temporary name (PATH.PID.tmp) redirects nothing; the profile is 0600', async () => {
    // The agent is root and the target's directory may be /tmp: a local user could plant
    // PATH.<agent pid>.tmp -> /etc/shadow and have the profile written through it.
    const sub = mkdtempSync(join(dir, 'planted-'));
    chmodSync(sub, 0o1777);
    const victim = join(sub, 'victim');
    writeFileSync(victim, 'root secret\n', { mode: 0o600 });
    const path = join(sub, 'heap.pb.gz');
    symlinkSync(victim, `${path}.${process.pid}.tmp`);
    await writePprof(path, SAMPLES);
    assert.equal(readFileSync(victim, 'utf8'), 'root secret\n', 'the file behind the planted link is untouched');
    assert.deepEqual([...readFileSync(path).subarray(0, 2)], [0x1f, 0x8b], 'the profile itself was written');
    assert.equal(statSync(path).mode & 0o777, 0o600, 'readable by its owner only');
    assert.deepEqual(readdirSync(sub).sort(), ['heap.pb.gz', `heap.pb.gz.${process.pid}.tmp`, 'victim'].sort(), 'no temporary file of ours left behind');
  });

  test('a link planted at the profile path itself is replaced, not followed', async () => {
    const sub = mkdtempSync(join(dir, 'link-'));
    const victim = join(sub, 'victim');
    writeFileSync(victim, 'keep\n');
    const path = join(sub, 'heap.pb.gz');
    symlinkSync(victim, path);
    await writePprof(path, SAMPLES);
    assert.equal(readFileSync(victim, 'utf8'), 'keep\n');
    assert.ok(!statSync(path, { throwIfNoEntry: true }).isSymbolicLink());
  });

  test('mappings from the process maps: ranges, file offsets, build-ids; locations point into them', () => {
    const p = readProfile(encodePprof(SAMPLES, { mappings: MAPS }));
    const byFile = new Map(p.mappings.map((m) => [m.file, m]));
    const exe = byFile.get('/usr/bin/leaky')!;
    assert.deepEqual({ ...exe, id: 0n }, { id: 0n, start: 0x555555555000n, limit: 0x555555556000n, offset: 0x1000n, file: '/usr/bin/leaky', buildId: 'ab12cd34', hasFunctions: true, hasLines: true, hasInline: true });
    const libc = byFile.get(LIBC)!;
    assert.equal(libc.start, 0x7ffff7c26000n);
    assert.equal(libc.offset, 0x26000n);
    assert.equal(libc.hasLines, false);
    assert.equal(p.mappings.length, 2, 'only the mappings the stacks touch');
    assert.equal(p.mappings[0]!.file, '/usr/bin/leaky', 'mapping[0] is the main binary, as pprof expects');
    assert.equal(p.mappings[0]!.id, 1n);
    for (const loc of p.locations.values()) {
      const m = p.mappings.find((x) => x.id === loc.mapping)!;
      assert.ok(loc.address >= m.start && loc.address < m.limit, 'each location lies in its mapping');
    }
    assert.equal(p.locations.size, 5, 'malloc and main shared between the stacks');
  });

  test('without maps, one mapping per module spanning its frames', () => {
    const p = readProfile(encodePprof(SAMPLES));
    assert.deepEqual(p.mappings.map((m) => [m.file, m.start, m.limit]).sort(), [
      ['/usr/bin/leaky', 0x555555555189n, 0x555555555231n],
      [LIBC, 0x7ffff7c27000n, 0x7ffff7c9a0a1n],
    ]);
  });
});
