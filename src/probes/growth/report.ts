// Per interval, per process: the growth since the last interval by stack (diffed from the
// kernel's cumulative counters), the RSS trend, and whether the process is a leak suspect.
import type { ContainerInfo } from '../../host/container.ts';
import type { Frame } from '../../symbolize/frame.ts';
import { STACK_LOST, type GrowthCounters } from './layout.ts';

export interface GrowthStack {
  /** In user_stacks; -1 when the stack was lost (not walked or not stored). */
  stackId: number;
  /** Resident bytes this interval: faults that give the process a page, sampled one in fault_sample and
   * scaled (what RSS counts; `mapped` is address space, counted apart, not added: a mapping's
   * pages would count twice once written). */
  bytes: number;
  /** Address space claimed this interval: brk up, anonymous private mmap, mremap up (exact). */
  mapped: number;
  events: number;
  /** Since the probe started. */
  totalBytes: number;
  frames: Frame[];
  truncated?: boolean;
}

export interface ProcessGrowth {
  pid: number;
  executable: string;
  container: ContainerInfo;
  /** Resident bytes charged this interval (faulted, scaled), and since the probe started. */
  bytes: number;
  totalBytes: number;
  /** Address space claimed this interval (brk, mmap, mremap). */
  mapped: number;
  /** munmap and brk down this interval (not attributed to a stack). */
  unmapped: number;
  /** RSS at the end of each of the last intervals, oldest first (bytes). */
  rssTrend: number[];
  /** Largest growth first (probes.growth.top). */
  top: GrowthStack[];
  /** RSS grew in each of the last suspect_intervals intervals with the same stack leading. */
  suspect: boolean;
}

export interface GrowthReport {
  kind: 'growth';
  seq: number;
  timeMs: number;
  intervalMs: number;
  /** Processes that grew this interval, largest first, all of them (the exporters bound what they show). */
  processes: ProcessGrowth[];
  /** Processes gone since the last report (their series stop). */
  ended: number[];
  /** Page faults are charged one in this many. */
  faultSample: number;
  /** False when the symbolizer was still busy with earlier reports: the stacks have no frames. */
  symbolized: boolean;
}

/** Diffs cumulative counters against the previous reading; keeps the new one. */
export class GrowthDiff {
  #prev = new Map<string, GrowthCounters>();
  #byProcess = new Map<number, number>();
  /** Resident bytes of entries retired from the kernel's maps (idle stacks), per process: its total keeps them. */
  #retired = new Map<number, number>();
  /** Per entry, the step it last grew at. */
  #lastGrew = new Map<string, number>();
  #steps = 0;

  /** Deltas of every (process, stack) that grew since the last call. */
  step(now: readonly GrowthCounters[]): GrowthCounters[] {
    const next = new Map<string, GrowthCounters>();
    const out: GrowthCounters[] = [];
    this.#byProcess = new Map(this.#retired);
    this.#steps++;
    for (const c of now) {
      const key = `${c.tgid}:${c.stackId}`;
      next.set(key, c);
      this.#byProcess.set(c.tgid, (this.#byProcess.get(c.tgid) ?? 0) + c.faulted);
      const p = this.#prev.get(key);
      const d = {
        tgid: c.tgid,
        stackId: c.stackId,
        mapped: c.mapped - (p?.mapped ?? 0),
        faulted: c.faulted - (p?.faulted ?? 0),
        events: c.events - (p?.events ?? 0),
        truncated: c.truncated - (p?.truncated ?? 0),
      };
      if (d.mapped > 0 || d.faulted > 0 || !p) {
        this.#lastGrew.set(key, this.#steps);
        if (d.mapped > 0 || d.faulted > 0) out.push(d);
      }
    }
    for (const key of this.#lastGrew.keys()) if (!next.has(key)) this.#lastGrew.delete(key);
    this.#prev = next;
    return out;
  }

  /**
   * Entries that have not grown for `idleSteps` steps: the caller deletes them (and their
   * stacks) from the kernel's maps, so a long run does not fill them; their bytes stay in the
   * process's total. A stack that grows again comes back as a new entry from zero.
   */
  retire(idleSteps: number): GrowthCounters[] {
    const out: GrowthCounters[] = [];
    for (const [key, at] of this.#lastGrew) {
      if (this.#steps - at < idleSteps) continue;
      const c = this.#prev.get(key);
      this.#lastGrew.delete(key);
      if (!c) continue;
      this.#prev.delete(key);
      this.#retired.set(c.tgid, (this.#retired.get(c.tgid) ?? 0) + c.faulted);
      out.push(c);
    }
    return out;
  }

  /** A process is gone: everything of it is forgotten. */
  forget(tgid: number): void {
    this.#retired.delete(tgid);
    for (const key of [...this.#prev.keys()]) if (key.startsWith(`${tgid}:`)) { this.#prev.delete(key); this.#lastGrew.delete(key); }
  }

  /** Cumulative resident bytes of a (process, stack), as of the last step. */
  total(tgid: number, stackId: number): number {
    return this.#prev.get(`${tgid}:${stackId}`)?.faulted ?? 0;
  }

  /** Cumulative resident bytes of a process over its stacks, as of the last step. */
  processTotal(tgid: number): number {
    return this.#byProcess.get(tgid) ?? 0;
  }
}

export function stackIdOf(raw: number): number {
  return raw === STACK_LOST ? -1 : raw;
}

/**
 * Leak suspicion per process: RSS higher at the end of each of the last K intervals than at
 * the one before, and the same stack leading the growth in each of them. One spike, or churn
 * that reuses its memory (no growth, flat RSS), never qualifies.
 */
export class SuspectTracker {
  readonly #k: number;
  readonly #history = new Map<number, { rss: number[]; lead: number[] }>();

  constructor(intervals: number) {
    this.#k = intervals;
  }

  /** Records this interval's RSS and lead stack (undefined: it did not grow); returns the RSS trend and the verdict. */
  observe(pid: number, rss: number, lead: number | undefined): { trend: number[]; suspect: boolean } {
    let h = this.#history.get(pid);
    if (!h) this.#history.set(pid, (h = { rss: [], lead: [] }));
    h.rss.push(rss);
    h.lead.push(lead ?? Number.NaN);
    const keep = this.#k + 1;
    if (h.rss.length > keep) h.rss.splice(0, h.rss.length - keep);
    if (h.lead.length > this.#k) h.lead.splice(0, h.lead.length - this.#k);
    let suspect = h.rss.length === keep && h.lead.length === this.#k;
    for (let i = 1; suspect && i < h.rss.length; i++) if (!(h.rss[i]! > h.rss[i - 1]!)) suspect = false;
    if (suspect) suspect = h.lead.every((l) => l === h.lead[0] && l !== -1 && !Number.isNaN(l));
    return { trend: [...h.rss], suspect };
  }

  /** The processes it holds history for. */
  pids(): number[] {
    return [...this.#history.keys()];
  }

  forget(pid: number): void {
    this.#history.delete(pid);
  }
}

const ALLOCATOR_MODULE = /\/(libc[.-][^/]*|libjemalloc[^/]*|libtcmalloc[^/]*|libmimalloc[^/]*|ld-linux[^/]*|ld-musl[^/]*)$/;
const ALLOCATOR_FUNCTION = /^(_?_?libc_|_int_|__)?(malloc|calloc|realloc|reallocarray|free|sysmalloc|sbrk|brk|mmap|mmap64|mremap|memalign|posix_memalign|aligned_alloc|valloc|pvalloc|memset|memcpy|memmove|operator new.*|_Zn[wa].*)(_[a-z0-9_]+)?$|^z(try)?(malloc|calloc|realloc)|^(je_|tc_|mi_)/;

/** The first frame that is not the allocator's own (libc, jemalloc, redis's zmalloc wrappers), for code.* attributes. */
export function firstCodeFrame(frames: readonly Frame[]): Frame | undefined {
  for (const f of frames) {
    if (f.module !== undefined && ALLOCATOR_MODULE.test(f.module)) continue;
    for (const c of [...(f.inlined ?? []), f]) {
      if (c.function === undefined || ALLOCATOR_FUNCTION.test(c.function)) continue;
      return { ...c, module: f.module, address: f.address };
    }
  }
  return undefined;
}
