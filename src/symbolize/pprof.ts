// Outstanding allocations as a pprof heap profile (perftools.profiles.Profile, gzipped), readable
// by `go tool pprof`, Pyroscope, Parca, Grafana. Encoded by pprof-format (the encoder Datadog's
// and Google's Node.js profilers use); what goes in the profile is decided here.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Frame } from './frame.ts';
import { Profile, StringTable, type FunctionInput, type LocationInput, type MappingInput, type SampleInput } from 'pprof-format';

const gzipAsync = promisify(gzip);

export interface PprofSample {
  /** Leaf first, as symbolized (frames[0] is the allocation site). */
  frames: readonly Frame[];
  bytes: number;
  allocations: number;
  /** Sample labels, e.g. { pid: 1234 } (numbers become numeric labels). */
  labels?: Readonly<Record<string, string | number>>;
}

/** A memory mapping of the profiled process; Mapping from maps.ts fits. */
export interface PprofMapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  path: string;
  buildId?: string;
}

export interface PprofOptions {
  /** The process's mappings (ProcessMaps.mappings): gives exact ranges, file offsets and build-ids. */
  mappings?: readonly PprofMapping[];
  /** Collection time; default now. */
  timeNanos?: bigint;
  durationNanos?: bigint;
  comments?: readonly string[];
}

interface MappingEntry {
  id: number;
  start: bigint;
  end: bigint;
  offset: bigint;
  path: string;
  buildId?: string;
  hasFunctions: boolean;
  hasFilenames: boolean;
  hasLineNumbers: boolean;
  hasInlineFrames: boolean;
}

interface LocationEntry {
  id: number;
  mapping: MappingEntry | undefined;
  address: bigint;
  lines: Array<{ functionId: number; line: number }>;
}

/** The uncompressed Profile message. */
export function encodePprof(samples: readonly PprofSample[], opts: PprofOptions = {}): Buffer {
  const strings = new StringTable(); // holds '' at 0
  const str = (s: string): number => strings.dedup(s);
  const functions = new Map<string, { id: number; name: number; file: number }>();
  const functionId = (name: string, file: string | undefined): number => {
    const key = `${name}\0${file ?? ''}`;
    let f = functions.get(key);
    if (!f) functions.set(key, (f = { id: functions.size + 1, name: str(name), file: file === undefined ? 0 : str(file) }));
    return f.id;
  };

  const mappings = new Map<string, MappingEntry>();
  const given = [...(opts.mappings ?? [])].filter((m) => m.path.startsWith('/') || m.path.startsWith('[')).sort((a, b) => (a.start < b.start ? -1 : 1));
  const mappingFor = (f: Frame): MappingEntry | undefined => {
    const m = given.find((g) => f.address >= g.start && f.address < g.end);
    if (m) {
      const key = `${m.start}`;
      let e = mappings.get(key);
      if (!e) mappings.set(key, (e = newMapping(m.start, m.end, m.offset, m.path, m.buildId)));
      return e;
    }
    if (f.module === undefined) return undefined;
    // No maps given: one mapping per module spanning its frames (file offset unknown, left 0).
    const key = `module:${f.module}`;
    let e = mappings.get(key);
    if (!e) mappings.set(key, (e = newMapping(f.address, f.address + 1n, 0n, f.module, undefined)));
    if (f.address < e.start) e.start = f.address;
    if (f.address >= e.end) e.end = f.address + 1n;
    return e;
  };

  const locations = new Map<string, LocationEntry>();
  const locationId = (f: Frame): number => {
    const key = `${f.address}\0${f.function ?? ''}\0${f.file ?? ''}\0${f.line ?? 0}`;
    let loc = locations.get(key);
    if (loc) return loc.id;
    const m = mappingFor(f);
    const lines: LocationEntry['lines'] = [];
    // Inlined functions first (innermost first), the real function last, as profile.proto says.
    for (const i of f.inlined ?? []) if (i.function !== undefined) lines.push({ functionId: functionId(i.function, i.file), line: i.line ?? 0 });
    if (f.function !== undefined) lines.push({ functionId: functionId(f.function, f.file), line: f.line ?? 0 });
    if (m) {
      m.hasFunctions ||= f.function !== undefined;
      m.hasFilenames ||= f.file !== undefined;
      m.hasLineNumbers ||= f.line !== undefined;
      m.hasInlineFrames ||= (f.inlined?.length ?? 0) > 0;
    }
    locations.set(key, (loc = { id: locations.size + 1, mapping: m, address: f.address, lines }));
    return loc.id;
  };

  const sampleType = [['inuse_objects', 'count'], ['inuse_space', 'bytes']].map(([type, unit]) => ({ type: str(type!), unit: str(unit!) }));
  const sample: SampleInput[] = samples.map((s) => ({
    locationId: s.frames.map(locationId),
    value: [Math.round(s.allocations), Math.round(s.bytes)],
    label: Object.entries(s.labels ?? {}).map(([k, v]) => (typeof v === 'number' ? { key: str(k), num: Math.round(v) } : { key: str(k), str: str(v) })),
  }));
  // Ids by address: the executable, mapped below its libraries, becomes mapping[0], which pprof
  // takes for the main binary.
  const sortedMappings = [...mappings.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  sortedMappings.forEach((m, i) => (m.id = i + 1));
  const mapping: MappingInput[] = sortedMappings.map((m) => ({
    id: m.id, memoryStart: m.start, memoryLimit: m.end, fileOffset: m.offset, filename: str(m.path),
    buildId: m.buildId === undefined ? 0 : str(m.buildId),
    hasFunctions: m.hasFunctions, hasFilenames: m.hasFilenames, hasLineNumbers: m.hasLineNumbers, hasInlineFrames: m.hasInlineFrames,
  }));
  const location: LocationInput[] = [...locations.values()].map((l) => ({
    id: l.id, mappingId: l.mapping?.id ?? 0, address: l.address, line: l.lines.map((x) => ({ functionId: x.functionId, line: x.line })),
  }));
  const fn: FunctionInput[] = [...functions.values()].map((f) => ({ id: f.id, name: f.name, systemName: f.name, filename: f.file }));
  const profile = new Profile({
    sampleType, sample, mapping, location, function: fn,
    // Unsampled: every allocation is counted, one byte of space per byte.
    periodType: { type: str('space'), unit: str('bytes') },
    period: 1,
    timeNanos: opts.timeNanos ?? BigInt(Date.now()) * 1_000_000n,
    ...(opts.durationNanos === undefined ? {} : { durationNanos: opts.durationNanos }),
    comment: (opts.comments ?? []).map(str),
    defaultSampleType: str('inuse_space'),
    stringTable: strings,
  });
  return Buffer.from(profile.encode());
}

function newMapping(start: bigint, end: bigint, offset: bigint, path: string, buildId: string | undefined): MappingEntry {
  return { id: 0, start, end, offset, path, ...(buildId === undefined ? {} : { buildId }), hasFunctions: false, hasFilenames: false, hasLineNumbers: false, hasInlineFrames: false };
}

/**
 * Writes the gzipped profile to `path` (through a temporary file and a rename, so a reader never
 * sees half a profile). Open with `go tool pprof -sample_index=inuse_space PATH`.
 *
 * The agent runs as root and `path` may sit in a directory other users can write (/tmp): the
 * temporary file gets an unguessable name beside the target, is created exclusively without
 * following links (a planted symlink or file makes the open fail, never redirects the write),
 * and is readable by the owner only. rename() replaces a link at `path` itself, not its target.
 */
export async function writePprof(path: string, samples: readonly PprofSample[], opts: PprofOptions = {}): Promise<void> {
  const data = await gzipAsync(encodePprof(samples, opts));
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(data);
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
