// A process's address space as /proc/PID/maps shows it, captured once so that addresses can be
// symbolized after the process has exited (or re-mapped things).
import { readFileSync } from 'node:fs';

export interface Mapping {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** As in maps: `r-xp`. */
  perms: string;
  /** File offset of `start`. */
  offset: bigint;
  /** Device of the mapped file (major, minor) and its inode: the kernel's identity of the file. */
  devMajor: number;
  devMinor: number;
  inode: bigint;
  /** Path as the process sees it (in its own mount namespace), without the ` (deleted)` suffix; '' for anonymous memory. */
  path: string;
  /** The file was unlinked or replaced after it was mapped. */
  deleted: boolean;
  /** GNU build-id (hex) of the file, filled in by the Symbolizer once it has read the module. */
  buildId?: string;
}

export interface ProcessMaps {
  pid: number;
  /** Sorted by start, non-overlapping (the kernel's order). */
  mappings: Mapping[];
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+)(?: +(.*))?$/;
const DELETED = ' (deleted)';
const NOT_PLAIN = /[^\x20-\x7e]|\\012/;

/** Reads /proc/PID/maps. Throws (ENOENT, EACCES) when the process is gone or not ours to read. */
export function readProcessMaps(pid: number): ProcessMaps {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`readProcessMaps: bad pid ${pid}`);
  return { pid, mappings: parseMaps(readFileSync(`/proc/${pid}/maps`, 'latin1')) };
}

/** Parses the text of a maps file; lines that do not parse are skipped. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    let path = m[8] ?? '';
    let deleted = false;
    if (path.startsWith('/') && path.endsWith(DELETED)) {
      path = path.slice(0, -DELETED.length);
      deleted = true;
    }
    out.push({
      start: BigInt('0x' + m[1]),
      end: BigInt('0x' + m[2]),
      perms: m[3]!,
      offset: BigInt('0x' + m[4]),
      devMajor: parseInt(m[5]!, 16),
      devMinor: parseInt(m[6]!, 16),
      inode: BigInt(m[7]!),
      // The kernel escapes only newlines in these paths (seq_path with "\n"). Most lines are
      // plain ASCII or anonymous: converted only when needed (60,000 mappings are 60,000 lines).
      path: NOT_PLAIN.test(path) ? Buffer.from(path.replaceAll('\\012', '\n'), 'latin1').toString('utf8') : path,
      deleted,
    });
  }
  return out;
}

/** The mapping that contains `address`, by binary search. */
export function findMapping(maps: ProcessMaps, address: bigint): Mapping | undefined {
  const a = maps.mappings;
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = a[mid]!;
    if (address < m.start) hi = mid - 1;
    else if (address >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
}

/** A mapping backed by a regular file we may be able to read (not [heap], [vdso], anonymous memory). */
export function isFileMapping(m: Mapping): boolean {
  return m.path.startsWith('/') && m.inode !== 0n;
}

/** The module name a frame reports: the file's path, a kernel pseudo-name, or '[anon]'. */
export function moduleName(m: Mapping): string {
  return m.path === '' ? '[anon]' : m.path;
}

/** dev_t as glibc encodes it (gnu_dev_major / gnu_dev_minor). */
export function devMajorMinor(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn);
  const minor = ((dev >> 12n) & 0xffffff00n) | (dev & 0xffn);
  return { major: Number(major), minor: Number(minor) };
}
