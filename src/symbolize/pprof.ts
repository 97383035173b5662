// Outstanding allocations as a pprof heap profile (perftools.profiles.Profile, gzipped), readable
// by `go tool pprof`, Pyroscope, Parca, Grafana. Field numbers from google/pprof
// proto/profile.proto; the encoding is written by hand (protobuf.ts) to avoid a dependency.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Frame } from './frame.ts';
import { ProtoWriter } from './protobuf.ts';

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

// perftools.profiles field numbers.
const PROFILE = { sampleType: 1, sample: 2, mapping: 3, location: 4, function: 5, stringTable: 6, timeNanos: 9, durationNanos: 10, periodType: 11, period: 12, comment: 13, defaultSampleType: 14 } as const;
const VALUE_TYPE = { type: 1, unit: 2 } as const;
const SAMPLE = { locationId: 1, value: 2, label: 3 } as const;
const LABEL = { key: 1, str: 2, num: 3 } as const;
const MAPPING = { id: 1, memoryStart: 2, memoryLimit: 3, fileOffset: 4, filename: 5, buildId: 6, hasFunctions: 7, hasFilenames: 8, hasLineNumbers: 9, hasInlineFrames: 10 } as const;
const LOCATION = { id: 1, mappingId: 2, address: 3, line: 4 } as const;
const LINE = { functionId: 1, line: 2 } as const;
const FUNCTION = { id: 1, name: 2, systemName: 3, filename: 4 } as const;

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
  const strings = new Map<string, number>([['', 0]]);
  const str = (s: string): number => {
    let i = strings.get(s);
    if (i === undefined) strings.set(s, (i = strings.size));
    return i;
  };
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

  const w = new ProtoWriter();
  const sampleTypes = [['inuse_objects', 'count'], ['inuse_space', 'bytes']] as const;
  for (const [type, unit] of sampleTypes) w.message(PROFILE.sampleType, (v) => v.uint(VALUE_TYPE.type, str(type)).uint(VALUE_TYPE.unit, str(unit)));
  for (const s of samples) {
    const ids = s.frames.map(locationId);
    w.message(PROFILE.sample, (m) => {
      m.packed(SAMPLE.locationId, ids).packed(SAMPLE.value, [Math.round(s.allocations), Math.round(s.bytes)]);
      for (const [k, v] of Object.entries(s.labels ?? {})) {
        m.message(SAMPLE.label, (l) => (typeof v === 'number' ? l.uint(LABEL.key, str(k)).uint(LABEL.num, Math.round(v)) : l.uint(LABEL.key, str(k)).uint(LABEL.str, str(v))));
      }
    });
  }
  // Ids by address: the executable, mapped below its libraries, becomes mapping[0], which pprof
  // takes for the main binary.
  const sortedMappings = [...mappings.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  sortedMappings.forEach((m, i) => (m.id = i + 1));
  for (const m of sortedMappings) {
    w.message(PROFILE.mapping, (e) => e
      .uint(MAPPING.id, m.id).uint(MAPPING.memoryStart, m.start).uint(MAPPING.memoryLimit, m.end).uint(MAPPING.fileOffset, m.offset)
      .uint(MAPPING.filename, str(m.path)).uint(MAPPING.buildId, m.buildId === undefined ? 0 : str(m.buildId))
      .bool(MAPPING.hasFunctions, m.hasFunctions).bool(MAPPING.hasFilenames, m.hasFilenames)
      .bool(MAPPING.hasLineNumbers, m.hasLineNumbers).bool(MAPPING.hasInlineFrames, m.hasInlineFrames));
  }
  for (const l of locations.values()) {
    w.message(PROFILE.location, (e) => {
      e.uint(LOCATION.id, l.id).uint(LOCATION.mappingId, l.mapping?.id ?? 0).uint(LOCATION.address, l.address);
      for (const line of l.lines) e.message(LOCATION.line, (x) => x.uint(LINE.functionId, line.functionId).uint(LINE.line, line.line));
    });
  }
  for (const f of functions.values()) {
    w.message(PROFILE.function, (e) => e.uint(FUNCTION.id, f.id).uint(FUNCTION.name, f.name).uint(FUNCTION.systemName, f.name).uint(FUNCTION.filename, f.file));
  }
  // Every string is interned above; comments and the default type are interned now.
  const comments = (opts.comments ?? []).map(str);
  const defaultType = str('inuse_space');
  // Unsampled: every allocation is counted, one byte of space per byte.
  w.message(PROFILE.periodType, (v) => v.uint(VALUE_TYPE.type, str('space')).uint(VALUE_TYPE.unit, str('bytes')));
  w.uint(PROFILE.period, 1);
  w.uint(PROFILE.timeNanos, opts.timeNanos ?? BigInt(Date.now()) * 1_000_000n);
  if (opts.durationNanos !== undefined) w.uint(PROFILE.durationNanos, opts.durationNanos);
  w.packed(PROFILE.comment, comments);
  w.uint(PROFILE.defaultSampleType, defaultType);
  for (const s of strings.keys()) w.string(PROFILE.stringTable, s);
  return w.finish();
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
