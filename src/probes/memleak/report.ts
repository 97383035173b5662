// A memleak report: for one process, the stacks with the most outstanding bytes, symbolized.
// Built in two steps: a synchronous snapshot of the BPF maps (while the process and its maps
// still exist), then symbolization, which is asynchronous and never holds up the probes.
import type { BpfObject } from '../../libbpf/object.ts';
import type { Frame } from '../../symbolize/frame.ts';
import type { ContainerInfo } from '../../host/container.ts';
import type { ProcessMaps } from '../../host/maps.ts';
import { decodeStack } from '../../runtime/record.ts';
import { decodeAlloc, decodeStackTotals, decodeUserStack, STACK_LOST, type StackTotals } from './layout.ts';

export interface MemleakStack {
  /** Id in the kernel's stack map; -1 for allocations whose stack was lost. */
  stackId: number;
  bytes: number;
  allocations: number;
  /** Innermost first: frames[0] is the allocator's caller. */
  frames: Frame[];
  /** A user stack the unwinder could not follow to its outermost frame: the frames shown are
   * right, callers beyond them are missing. */
  truncated?: boolean;
}

export interface MemleakStats {
  /** Allocations whose stack hit an occupied stack-map bucket (-EEXIST): counted under stack -1. */
  stackCollisions: number;
  /** Other stack capture failures, also counted under stack -1. */
  stackFailures: number;
  /** Allocations whose user stack stopped short of its outermost frame (code without a table
   * yet, such as a library just dlopen()ed, JIT code, CFI not evaluated, over 127 frames). */
  stackTruncated: number;
  /** Allocations not tracked because the per-address map was full (max_allocations). */
  allocsDropped: number;
  /** Addresses that came back from an allocator while still recorded (a free we did not see). */
  addrReused: number;
  /** Trace-mode records lost because the ring buffer was full. */
  eventsDropped: number;
}

export interface MemleakReport {
  kind: 'report';
  /** 1-based round number; reports of one round share it. */
  seq: number;
  timeMs: number;
  /** 0 for kernel allocations. */
  pid: number;
  /** process.executable.name: comm, as ps shows it (process.ts). */
  executable: string;
  /** process.command_line, cut at probes.memleak.command_line_max characters; '' for the kernel. */
  commandLine: string;
  kernel: boolean;
  /** User space: the unwind tables held in the kernel for all traced processes (rows of 16 bytes,
   * of probes.memleak.unwind_table_max_bytes / 16) and the objects they belong to. */
  unwind?: { rows: number; rowsMax: number; objects: number };
  /** Set on the last report of a process that exited or exec'd while traced. */
  ended?: 'exited' | 'exec';
  /** Only allocations older than this went into the report (0: all). */
  minAgeMs: number;
  /** Over all stacks of the process, not only the top ones. */
  totals: { bytes: number; allocations: number; stacks: number };
  /** The top stacks by outstanding bytes (probes.memleak.top), largest first. */
  top: MemleakStack[];
  /** Every stack with outstanding allocations, when a pprof profile is written. */
  all?: MemleakStack[];
  stats: MemleakStats;
  /** Files of the allocator (libc, libjemalloc, --memleak-lib): frames there are the allocator's own. */
  allocatorModules: string[];
  /** Allocator function names (with the symbol prefix). */
  allocatorFunctions: string[];
  /** Where each traced function was attached: the file the process's calls bind to. */
  allocators: Array<{ module: string; functions: string[] }>;
  container: ContainerInfo;
}

/** Per-process stacks read from the maps, with their instruction pointers. */
export interface StackSnapshot {
  tgid: number;
  totals: { bytes: number; allocations: number; stacks: number };
  stacks: Array<{ stackId: number; bytes: number; allocations: number; ips: bigint[]; truncated?: boolean }>;
  /** How many of `stacks` go into `top` (the rest only into `all`). */
  topCount: number;
}

/**
 * Outstanding allocations per (process, stack) for the processes in `tgids`. Without an age
 * filter this reads only the per-stack totals the kernel keeps; with one it walks the
 * per-address map (the totals cannot tell old from young).
 */
export function readStackTotals(obj: BpfObject, tgids: ReadonlySet<number>, minAgeMs: number, nowNs: bigint): StackTotals[] {
  if (minAgeMs <= 0) {
    return obj.map('stack_totals').entries()
      .map(([k, v]) => decodeStackTotals(k, v))
      .filter((t) => tgids.has(t.tgid) && (t.bytes !== 0 || t.allocations !== 0));
  }
  // Summed while the per-address map streams by (a million blocks must not become a million
  // JS objects, as they did: 1 s and +457 MiB per report in bench/scaling.ts).
  const minAgeNs = BigInt(minAgeMs) * 1_000_000n;
  const byKey = new Map<number, StackTotals>();
  obj.map('allocs').forEachEntry((k, v) => {
    const a = decodeAlloc(k, v);
    if (!tgids.has(a.tgid) || nowNs - a.tsNs < minAgeNs) return;
    const key = a.tgid * 2 ** 32 + (a.stackId >>> 0);
    let t = byKey.get(key);
    if (!t) byKey.set(key, (t = { tgid: a.tgid, stackId: a.stackId, bytes: 0, allocations: 0 }));
    t.bytes += a.size;
    t.allocations += 1;
  });
  return [...byKey.values()];
}

/** Groups totals by process, keeps the top `top` stacks (all of them when `all`), reads their frames. */
export function snapshotStacks(obj: BpfObject, totals: readonly StackTotals[], top: number, all: boolean): Map<number, StackSnapshot> {
  const kernelStacks = obj.map('stack_traces');
  const userStacks = obj.map('user_stacks');
  const out = new Map<number, StackSnapshot>();
  for (const t of totals) {
    let s = out.get(t.tgid);
    if (!s) out.set(t.tgid, (s = { tgid: t.tgid, totals: { bytes: 0, allocations: 0, stacks: 0 }, stacks: [], topCount: 0 }));
    s.totals.bytes += t.bytes;
    s.totals.allocations += t.allocations;
    s.totals.stacks += 1;
    s.stacks.push({ stackId: t.stackId, bytes: t.bytes, allocations: t.allocations, ips: [] });
  }
  for (const s of out.values()) {
    s.stacks.sort((a, b) => b.bytes - a.bytes || b.allocations - a.allocations || a.stackId - b.stackId);
    s.topCount = Math.min(top, s.stacks.length);
    if (!all) s.stacks.length = s.topCount;
    for (const st of s.stacks) {
      if (st.stackId === STACK_LOST) continue;
      const key = Buffer.alloc(4);
      key.writeInt32LE(st.stackId);
      if (s.tgid === 0) {
        const v = kernelStacks.lookup(key);
        if (v) st.ips = decodeStack(v);
      } else {
        const v = userStacks.lookup(key);
        if (v) {
          const u = decodeUserStack(v);
          st.ips = u.ips;
          if (u.truncated) st.truncated = true;
        }
      }
    }
  }
  return out;
}

export type FrameResolver = (ips: readonly bigint[]) => Promise<Frame[]>;

/** Frames for every stack of a snapshot, one resolver call for all distinct addresses. */
export async function resolveStacks(snap: StackSnapshot, resolve: FrameResolver): Promise<MemleakStack[]> {
  const unique = [...new Set(snap.stacks.flatMap((s) => s.ips))];
  const frames = unique.length > 0 ? await resolve(unique) : [];
  const byAddr = new Map<bigint, Frame>();
  unique.forEach((a, i) => byAddr.set(a, frames[i] ?? { address: a }));
  return snap.stacks.map((s) => ({
    stackId: s.stackId,
    bytes: s.bytes,
    allocations: s.allocations,
    frames: s.ips.map((ip) => byAddr.get(ip) ?? { address: ip }),
    ...(s.truncated ? { truncated: true } : {}),
  }));
}

/**
 * Symbolizes return addresses of one process. Every address of a stack taken at a uretprobe is
 * a return address, the first one included (the caller's instruction after the call): the
 * symbolizer treats all but [0] that way, so a placeholder goes first and is dropped.
 */
export function userResolver(
  symbolize: (maps: ProcessMaps, addrs: readonly bigint[], opts: { stack: boolean }) => Promise<Frame[]>,
  maps: ProcessMaps | undefined,
): FrameResolver {
  return async (ips) => {
    if (!maps) return ips.map((address) => ({ address }));
    const out: Frame[] = [];
    const frames = await symbolize(maps, [0n, ...ips], { stack: true });
    for (let i = 0; i < ips.length; i++) out.push(frames[i + 1] ?? { address: ips[i]! });
    return out;
  };
}

/**
 * The first frame of a stack that is not the allocator's own (a libc-internal caller such as
 * calloc -> malloc in musl, or a prefixed allocator's wrappers), for code.function.name and
 * friends. Inlined calls count as frames: the innermost inlined function is the one that
 * allocated.
 */
export function firstUserFrame(stack: MemleakStack, report: Pick<MemleakReport, 'allocatorModules' | 'allocatorFunctions'>): Frame | undefined {
  const modules = new Set(report.allocatorModules);
  const functions = new Set(report.allocatorFunctions);
  for (const f of stack.frames) {
    if (f.module !== undefined && modules.has(f.module)) continue;
    const chain = [...(f.inlined ?? []), f];
    for (const c of chain) {
      if (c.function !== undefined && functions.has(c.function)) continue;
      return { ...c, module: f.module, address: f.address };
    }
  }
  return undefined;
}

const CXX_OPERATOR = /^_Z(nw|na|dl|da)/;

/**
 * Where the allocator functions were attached, one clause per file: "malloc, free, ... in
 * /usr/lib/x86_64-linux-gnu/libjemalloc.so.2; pvalloc in /usr/lib/x86_64-linux-gnu/libc.so.6".
 * The C++ operators' mangled forms are counted, not listed.
 */
export function formatAllocators(groups: MemleakReport['allocators']): string {
  return groups.map((g) => {
    const operators = g.functions.filter((f) => CXX_OPERATOR.test(f)).length;
    const names = g.functions.filter((f) => !CXX_OPERATOR.test(f));
    if (operators > 0) names.push(`operator new/delete (${operators} forms)`);
    return `${names.join(', ')} in ${g.module}`;
  }).join('; ');
}
