// Every decoder in src/probes (found by grep for `export function decode...(x: Buffer`) fed
// random, truncated, over-long and header-mangled buffers from a seeded PRNG. A decoder of
// ring-buffer records may return or throw DecodeError, nothing else: the ring-buffer boundary
// (RingBufferSource) counts a DecodeError as a dropped record, and the probe goes on. Map
// decoders get values of their map's exact size, which the kernel guarantees, and must decode
// any content without throwing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DecodeError, HEADER_SIZE } from '../../src/runtime/record.ts';

const PROBES_DIR = join(import.meta.dirname, '../../src/probes');
const SEED = Number(process.env.FUZZ_SEED ?? 0x6d77);
const CASES = Number(process.env.FUZZ_CASES ?? 3000);

/** mulberry32: small, fast, and the same sequence for the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** Buffer decoders exported from src/probes, as `file:name`. */
function discover(): Array<{ file: string; name: string }> {
  const out: Array<{ file: string; name: string }> = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/export function (decode\w+)\(\w+: Buffer\b/g)) out.push({ file: relative(PROBES_DIR, p), name: m[1]! });
      }
    }
  };
  walk(PROBES_DIR);
  return out;
}

const KERNEL = { pageSize: 4096, version: [6, 18] as [number, number] };
const PAF_VOCAB = { gfp: { decode: (v: number | bigint) => `gfp ${v}` }, migratetypes: ['Unmovable', 'Movable'] };

/** A well-formed header for a record of `type` and `size`, then random bytes. */
function record(rand: () => number, type: number, size: number, extra?: (b: Buffer) => void): Buffer {
  const b = randomBytes(rand, size);
  b.writeUInt16LE(type, 0);
  b.writeUInt16LE(size, 2);
  extra?.(b);
  return b;
}

interface RecordDecoder {
  kind: 'record';
  call(fn: (...a: unknown[]) => unknown, buf: Buffer): unknown;
  /** Well-formed records (right type and size, random content). */
  valid(rand: () => number, mod: Record<string, unknown>): Buffer;
}
interface MapDecoder {
  kind: 'map';
  /** Keys and values of the map's sizes, random content. */
  call(fn: (...a: unknown[]) => unknown, rand: () => number, mod: Record<string, unknown>): unknown;
}

/** The size of an exported struct layout (runtime/layout.ts). */
const sizeOf = (mod: Record<string, unknown>, name: string) => {
  const v = (mod[name] as { size?: unknown } | undefined)?.size;
  assert.equal(typeof v, 'number', `${name} is an exported layout`);
  return v as number;
};

const num = (mod: Record<string, unknown>, name: string) => {
  const v = mod[name];
  assert.equal(typeof v, 'number', `${name} is exported`);
  return v as number;
};

/** How to call each decoder; one found by grep and missing here fails the first test. */
const DECODERS: Record<string, RecordDecoder | MapDecoder> = {
  'sysstat/definition.ts:decodeSysstat': { kind: 'record', call: (fn, b) => fn(b, KERNEL), valid: (r, m) => record(r, 1, num(m, 'SYSSTAT_RECORD_SIZE')) },
  'procstat/definition.ts:decodeProcstat': {
    kind: 'record',
    call: (fn, b) => fn(b, KERNEL),
    valid: (r, m) => (r() < 0.5 ? record(r, 2, num(m, 'PROCSTAT_RECORD_SIZE')) : record(r, 3, num(m, 'PROCSTAT_EXIT_RECORD_SIZE'))),
  },
  'procstat/definition.ts:decodeSnapshot': {
    kind: 'record',
    call: (fn, b) => fn(b, KERNEL),
    valid: (r, m) => Buffer.concat(Array.from({ length: Math.floor(r() * 4) }, () => record(r, 2, num(m, 'PROCSTAT_RECORD_SIZE')))),
  },
  'pr/definition.ts:decodePrStall': {
    kind: 'record',
    call: (fn, b) => fn(b),
    // Stalls come from direct or memcg reclaim: a source index the reader knows.
    valid: (r, m) => record(r, 5, num(m, 'PR_STALL_RECORD_SIZE'), (b) => b.writeUInt32LE((m.PR_SOURCES as string[]).indexOf(r() < 0.5 ? 'direct' : 'memcg'), HEADER_SIZE)),
  },
  'memleak/layout.ts:decodeTraceEvent': { kind: 'record', call: (fn, b) => fn(b), valid: (r, m) => record(r, 6, num(m, 'MEMLEAK_RECORD_SIZE')) },
  'paf/definition.ts:decodePafEvent': {
    kind: 'record',
    call: (fn, b) => fn(b, PAF_VOCAB),
    valid: (r, m) => {
      const zones = r() < 0.5;
      const kinds = m.PAF_KIND as { FAILURE: number; ZONES: number };
      return record(r, 4, num(m, zones ? 'PAF_ZONES_RECORD_SIZE' : 'PAF_FAILURE_RECORD_SIZE'), (b) => b.writeUInt32LE(zones ? kinds.ZONES : kinds.FAILURE, HEADER_SIZE));
    },
  },
  'pr/definition.ts:decodePrTotals': {
    kind: 'map',
    call: (fn, r, m) => fn(randomBytes(r, Math.ceil(num(m, 'PR_TOTALS_SIZE') / 8) * 8 * (1 + Math.floor(r() * 8))), { unqueuedDirty: r() < 0.5, nrToReclaim: r() < 0.5 }, r() < 0.5),
  },
  'memleak/layout.ts:decodeStackTotals': { kind: 'map', call: (fn, r, m) => fn(randomBytes(r, sizeOf(m, 'STACK_KEY')), randomBytes(r, sizeOf(m, 'STACK_TOTALS'))) },
  'memleak/layout.ts:decodeAlloc': { kind: 'map', call: (fn, r, m) => fn(randomBytes(r, sizeOf(m, 'ALLOC_KEY')), randomBytes(r, sizeOf(m, 'ALLOC_INFO'))) },
  'memleak/layout.ts:decodeUserStack': { kind: 'map', call: (fn, r, m) => fn(randomBytes(r, sizeOf(m, 'USER_STACK'))) },
  'growth/layout.ts:decodeGrowth': { kind: 'map', call: (fn, r, m) => fn(randomBytes(r, num(m, 'GROWTH_KEY_SIZE')), randomBytes(r, num(m, 'GROWTH_VAL_SIZE'))) },
  'growth/layout.ts:decodeProc': { kind: 'map', call: (fn, r, m) => fn(randomBytes(r, 4), randomBytes(r, num(m, 'GROWTH_PROC_SIZE'))) },
  'memleak/layout.ts:decodeStack': { kind: 'map', call: (fn, r) => fn(randomBytes(r, 8 * Math.floor(r() * 128))) },
  'paf/definition.ts:decodeStack': { kind: 'map', call: (fn, r) => fn(randomBytes(r, 8 * Math.floor(r() * 128))) },
  'paf/definition.ts:decodeCountKey': { kind: 'map', call: (fn, r, m) => fn(randomBytes(r, sizeOf(m, 'COUNT_KEY'))) },
  'oom/record.ts:decodeOomEvent': {
    kind: 'record',
    call: (fn, b) => fn(b),
    valid: (r, m) => {
      const kill = r() < 0.5;
      const kinds = m.OOM_KIND as { KILL: number; REAP: number };
      return record(r, 7, num(m, kill ? 'OOM_KILL_RECORD_SIZE' : 'OOM_REAP_RECORD_SIZE'), (b) => {
        b.writeUInt32LE(kill ? kinds.KILL : kinds.REAP, HEADER_SIZE);
        if (!kill) b.writeUInt32LE(1 + Math.floor(r() * 6), HEADER_SIZE + 4); // a reap phase the reader knows
      });
    },
  },
  'paf/definition.ts:decodeRetry': { kind: 'map', call: (fn, r, m) => fn(randomBytes(r, sizeOf(m, 'RETRY_KEY')), randomBytes(r, sizeOf(m, 'RETRY_VAL'))) },
};

const found = discover();

test('every buffer decoder in src/probes has a fuzz recipe here', () => {
  assert.ok(found.some((d) => d.name === 'decodeSysstat'), 'discovery works');
  const missing = found.map((d) => `${d.file}:${d.name}`).filter((k) => !(k in DECODERS));
  assert.deepEqual(missing, [], 'add these to DECODERS in this file');
});

/** Returns normally or throws DecodeError; anything else fails with the input that caused it. */
function onlyDecodeError(what: string, input: Buffer, run: () => unknown): 'ok' | 'rejected' {
  try {
    run();
    return 'ok';
  } catch (err) {
    if (err instanceof DecodeError) return 'rejected';
    assert.fail(`${what} threw ${(err as Error).name}: ${(err as Error).message} on ${input.length} bytes ${input.subarray(0, 64).toString('hex')}`);
  }
}

for (const { file, name } of found) {
  const recipe = DECODERS[`${file}:${name}`];
  if (recipe?.kind !== 'record') continue;
  test(`${name} (${file}): ${CASES} random, truncated, over-long and mangled records: returns or throws DecodeError`, async () => {
    const mod = (await import(join(PROBES_DIR, file))) as Record<string, unknown>;
    const fn = mod[name] as (...a: unknown[]) => unknown;
    const rand = prng(SEED ^ name.length);
    const tally = { ok: 0, rejected: 0 };
    for (let i = 0; i < CASES; i++) {
      const good = recipe.valid(rand, mod);
      const variants = [
        good,
        good.subarray(0, Math.floor(rand() * good.length)), // truncated
        Buffer.concat([good, randomBytes(rand, 1 + Math.floor(rand() * 64))]), // over-long
        randomBytes(rand, Math.floor(rand() * (good.length * 2 + 32))), // noise
        (() => { const b = Buffer.from(good); if (b.length >= 4) b.writeUInt16LE(Math.floor(rand() * 65536), 2); return b; })(), // size field lies
        (() => { const b = Buffer.from(good); if (b.length >= 2) b.writeUInt16LE(Math.floor(rand() * 16), 0); return b; })(), // another type
      ];
      for (const v of variants) tally[onlyDecodeError(name, v, () => recipe.call(fn, v))]++;
    }
    assert.ok(tally.ok > 0 && tally.rejected > 0, `both outcomes exercised: ${JSON.stringify(tally)}`);
  });
}

for (const { file, name } of found) {
  const recipe = DECODERS[`${file}:${name}`];
  if (recipe?.kind !== 'map') continue;
  test(`${name} (${file}): ${CASES} map entries of the map's size with random content decode without throwing`, async () => {
    const mod = (await import(join(PROBES_DIR, file))) as Record<string, unknown>;
    const fn = mod[name] as (...a: unknown[]) => unknown;
    const rand = prng(SEED ^ (name.length << 8));
    for (let i = 0; i < CASES; i++) recipe.call(fn, rand, mod);
  });
}

test('the fuzzing is deterministic: the same seed gives the same bytes', () => {
  const a = prng(42);
  const b = prng(42);
  assert.deepEqual(randomBytes(a, 64), randomBytes(b, 64));
});
