// Memory cgroups as the file system shows them: where the hierarchies are mounted, a memcg's
// path from its kernfs id (the inode of its directory), the processes under a cgroup, and the
// largest of them by RSS.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readContainerOf } from '../../host/container.ts';
import type { OomProcessRss } from './record.ts';

export interface CgroupMounts {
  /** The cgroup v1 hierarchy the memory controller is attached to. */
  memoryV1?: string;
  /** The cgroup v2 (unified) mount. */
  unified?: string;
  /** Whether the unified hierarchy has the memory controller (then memcgs live there). */
  unifiedHasMemory: boolean;
}

/** Parses /proc/self/mountinfo text (pure, for tests). */
export function parseCgroupMounts(mountinfo: string, readControllers: (dir: string) => string | undefined = readText): CgroupMounts {
  const out: CgroupMounts = { unifiedHasMemory: false };
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const mountPoint = unescapeMount(pre[4] ?? '');
    const fstype = post[0];
    const superOpts = (post[2] ?? '').split(',');
    if (fstype === 'cgroup' && superOpts.includes('memory') && out.memoryV1 === undefined) out.memoryV1 = mountPoint;
    if (fstype === 'cgroup2' && out.unified === undefined) out.unified = mountPoint;
  }
  if (out.unified) out.unifiedHasMemory = (readControllers(join(out.unified, 'cgroup.controllers')) ?? '').split(/\s+/).includes('memory');
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function readCgroupMounts(): CgroupMounts {
  return parseCgroupMounts(readText('/proc/self/mountinfo') ?? '');
}

/** The root of the hierarchy memcgs belong to: v1's memory mount, else the unified one. */
export function memcgRoot(m: CgroupMounts): { root: string; version: 1 | 2 } | undefined {
  if (m.memoryV1) return { root: m.memoryV1, version: 1 };
  if (m.unified) return { root: m.unified, version: 2 };
  return undefined;
}

/** Every cgroup directory under root (root first, then breadth first), at most `limit`. */
export function walkCgroups(root: string, limit = 100_000): string[] {
  const out: string[] = ['/'];
  for (let i = 0; i < out.length && out.length < limit; i++) {
    let entries;
    try {
      entries = readdirSync(join(root, out[i]!), { withFileTypes: true });
    } catch {
      continue; // removed meanwhile
    }
    for (const e of entries) {
      if (e.isDirectory() && out.length < limit) out.push(out[i] === '/' ? `/${e.name}` : `${out[i]}/${e.name}`);
    }
  }
  return out;
}

/** Memcg path by kernfs id: an index of the hierarchy's directories by inode, walked again when
 * an id is missing (once per id: kills are rare, a walk is not). Entries outlive their directory
 * (up to `maxEntries`):
 * a container's cgroup is often gone by the time its kill is read, and kernfs ids are allocated
 * cyclically, so an old id is not soon another cgroup's. */
export class CgroupPathResolver {
  readonly #root: string;
  readonly #maxEntries: number;
  #byIno = new Map<number, string>();
  /** Ids a walk did not find: not walked for again. */
  readonly #missing = new Set<number>();

  constructor(root: string, maxEntries = 100_000) {
    this.#root = root;
    this.#maxEntries = maxEntries;
  }

  get root(): string {
    return this.#root;
  }

  /** Walks the hierarchy now (also done once up front, so cgroups removed later still resolve). */
  refresh(): void {
    for (const rel of walkCgroups(this.#root)) {
      try {
        const ino = statSync(join(this.#root, rel)).ino;
        this.#byIno.delete(ino); // re-inserted as the newest
        this.#byIno.set(ino, rel);
      } catch { /* gone */ }
    }
    while (this.#byIno.size > this.#maxEntries) this.#byIno.delete(this.#byIno.keys().next().value!);
  }

  resolve(cgroupId: number): string | undefined {
    const hit = this.#byIno.get(cgroupId);
    if (hit !== undefined || this.#missing.has(cgroupId)) return hit;
    this.refresh();
    const found = this.#byIno.get(cgroupId);
    if (found === undefined) {
      if (this.#missing.size >= 1024) this.#missing.clear();
      this.#missing.add(cgroupId);
    }
    return found;
  }
}

/** Pids in a cgroup and every cgroup below it. */
export function cgroupPids(dir: string): number[] {
  const pids = new Set<number>();
  for (const rel of walkCgroups(dir)) {
    const text = readText(join(dir, rel, 'cgroup.procs'));
    if (!text) continue;
    for (const l of text.split('\n')) if (/^\d+$/.test(l)) pids.add(Number(l));
  }
  return [...pids];
}

export function allPids(procRoot = '/proc'): number[] {
  try {
    return readdirSync(procRoot).filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [];
  }
}

/** RSS of one process (/proc/PID/statm's resident pages) and its comm; undefined once it is gone or for kernel threads. */
export function processRss(pid: number, pageSize: number, procRoot = '/proc'): OomProcessRss | undefined {
  const statm = readText(`${procRoot}/${pid}/statm`);
  const comm = readText(`${procRoot}/${pid}/comm`);
  if (statm === undefined || comm === undefined) return undefined;
  const resident = Number(statm.split(' ')[1]);
  if (!Number.isFinite(resident) || resident === 0) return undefined;
  return { pid, comm: comm.trim(), rssBytes: resident * pageSize, container: {} };
}

/** The n largest processes by RSS among `pids`, with their containers. */
export function topByRss(pids: readonly number[], pageSize: number, n = 5): OomProcessRss[] {
  const all = pids.flatMap((p) => {
    const r = processRss(p, pageSize);
    return r ? [r] : [];
  });
  all.sort((a, b) => b.rssBytes - a.rssBytes || a.pid - b.pid);
  return all.slice(0, n).map((r) => ({ ...r, container: readContainerOf(r.pid) }));
}
