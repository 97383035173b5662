// paf: page allocation failures (kmem:mm_page_alloc with a NULL page), the zone state of the
// failing node at that moment, periodic zone snapshots, exact failure counts per (order, GFP)
// and slow-path reclaim retries (oom:reclaim_retry_zone). Layouts: bpf/paf.h.
import { readContainerOf, type ContainerInfo } from '../../host/container.ts';
import { kernelSymbols, loadKernelSymbols, refreshKernelSymbols, type KernelSymbols } from '../../host/kallsyms.ts';
import { processComm } from '../../host/proc.ts';
import type { BpfMap } from '../../libbpf/map.ts';
import type { BpfObject } from '../../libbpf/object.ts';
import type { Logger } from '../../log.ts';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProbeSource } from '../../runtime/probe.ts';
import { array, chars, s32, struct, u32, u64 } from '../../runtime/layout.ts';
import { decodeStack, DecodeError, EVENT_HEADER, MW_ZONE, zoneInfo, EVENT_TYPE, expectRecord, HEADER_SIZE, readHeader } from '../../runtime/record.ts';
import { RingBufferSource } from '../../runtime/ringbuf-source.ts';
import { selfTriggerRodata } from '../../runtime/self-trigger.ts';
import { GfpDecoder, gfpZoneName, loadGfpTable, migratetypeNames } from '../../host/gfp.ts';

// --- layouts (bpf/paf.h) -----------------------------------------------------------------------

export const PAF_KIND = { FAILURE: 1, ZONES: 2 } as const;
export const PAF_SOURCE = { 1: 'tracepoint', 2: 'kretprobe' } as const;
export const PAF_MAX_ZONES = 6; // MW_MAX_ZONES
export const PAF_STACK_DEPTH = 64;
const ZONES = struct({ node: u32, nrZones: u32, zones: array(MW_ZONE, PAF_MAX_ZONES) }, 'paf_zones');
export const ZONES_EVENT = struct({ hdr: EVENT_HEADER, kind: u32, _pad: u32, z: ZONES }, 'paf_zones_event');
export const FAILURE_EVENT = struct({
  hdr: EVENT_HEADER, kind: u32, order: u32, gfp: u64, migratetype: s32, stackId: s32, pid: u32, tgid: u32, comm: chars(16),
  source: u32, preferredNode: s32, z: ZONES,
}, 'paf_failure_event');
export const COUNT_KEY = struct({ gfp: u64, order: u32, _pad: u32 }, 'paf_count_key');
export const RETRY_KEY = struct({ node: s32, zoneIdx: s32, order: s32, _pad: u32 }, 'paf_retry_key');
export const RETRY_VAL = struct({
  count: u64, reclaimable: u64, available: u64, minWmark: u64, noProgressLoops: s32, wmarkCheck: u32,
}, 'paf_retry_val');
export const PAF_FAILURE_RECORD_SIZE = FAILURE_EVENT.size;
export const PAF_ZONES_RECORD_SIZE = ZONES_EVENT.size;

// --- records -----------------------------------------------------------------------------------

export interface ZoneState {
  node: number;
  /** Index in the node's zones (enum zone_type of the running kernel). */
  index: number;
  name: string;
  /** Watermarks as /proc/zoneinfo shows them and the allocator checks them: _watermark[] + boost. */
  min: number;
  low: number;
  high: number;
  boost: number;
  free: number;
  managed: number;
  present: number;
  spanned: number;
}

export interface KernelFrame {
  address: bigint;
  /** `function+0xoff [module]`, or the hex address. */
  symbol: string;
}

export interface PafFailure {
  kind: 'failure';
  tsNs: bigint;
  order: number;
  gfp: number;
  /** As the kernel prints it: GFP_KERNEL|__GFP_NOWARN|... */
  gfpNames: string;
  migratetype?: number;
  migratetypeName?: string;
  /** Thread id and its comm. */
  tid: number;
  comm: string;
  /** Process id and name (/proc/PID/comm when the process is still there, else the thread's comm). */
  pid: number;
  processName: string;
  /** The process's container, when it is in one (read when the record arrives). */
  container: ContainerInfo;
  source: 'tracepoint' | 'kretprobe';
  node: number;
  /** Every zone of the node at the moment of failure (empty when the kernel side could not read them). */
  zones: ZoneState[];
  /** The zone the allocation started from: gfp_zone() or the nearest populated one below it. */
  zone?: ZoneState;
  stackId: number;
  /** Innermost first, from the allocator on (the BPF program and tracing frames above it left
   * out; with the kprobe pair from the allocator's caller, as the return probe runs after it
   * returned); empty with stackError set when the kernel gave no stack. */
  stack: KernelFrame[];
  stackError?: string;
}

export interface PafZones {
  kind: 'zones';
  tsNs: bigint;
  node: number;
  zones: ZoneState[];
}

export interface PafFailureCount {
  order: number;
  gfp: number;
  gfpNames: string;
  /** Failures since the previous counts record. */
  count: number;
}

export interface PafCounts {
  kind: 'counts';
  entries: PafFailureCount[];
}

export interface PafRetry {
  node: number;
  zoneIndex: number;
  zoneName?: string;
  order: number;
  /** Retries since the previous retries record. */
  count: number;
  /** Arguments of the latest retry. */
  reclaimable: number;
  available: number;
  minWmark: number;
  noProgressLoops: number;
  wmarkCheck: boolean;
}

export interface PafRetries {
  kind: 'retries';
  entries: PafRetry[];
}

export type PafRecord = PafFailure | PafZones | PafCounts | PafRetries;

/** What decoding needs besides the bytes: the running kernel's names. */
export interface PafVocabulary {
  gfp: GfpDecoder;
  migratetypes: readonly string[];
}

// --- decoding ------------------------------------------------------------------------------------

function decodeZones(z: ReturnType<typeof ZONES.read>): { node: number; zones: ZoneState[] } {
  const zones = z.zones.slice(0, Math.min(z.nrZones, PAF_MAX_ZONES)).map((r, index): ZoneState => ({ node: z.node, index, ...zoneInfo(r) }));
  return { node: z.node, zones };
}

/** The zone gfp_zone() picks, walking down to the nearest zone with managed pages, as the zonelist does. */
export function targetZone(gfp: number, zones: readonly ZoneState[]): ZoneState | undefined {
  const wanted = gfpZoneName(gfp);
  let i = zones.findIndex((z) => z.name === wanted);
  if (i < 0 && wanted === 'HighMem') i = zones.findIndex((z) => z.name === 'Normal'); // 64-bit: no HighMem
  if (i < 0) return undefined;
  for (; i >= 0; i--) if (zones[i]!.managed > 0) return zones[i];
  return undefined;
}

/** Decodes one ring-buffer record; the failure's stack is left for the caller to resolve. */
export function decodePafEvent(buf: Buffer, vocab: PafVocabulary): PafFailure | PafZones {
  const h = readHeader(buf);
  if (h.type !== EVENT_TYPE.PAF) throw new DecodeError(`paf: record type ${h.type}, expected ${EVENT_TYPE.PAF}`);
  if (buf.length < HEADER_SIZE + 4) throw new DecodeError(`paf: record of ${buf.length} bytes has no kind`);
  const kind = buf.readUInt32LE(HEADER_SIZE);
  if (kind === PAF_KIND.ZONES) {
    expectRecord(buf, EVENT_TYPE.PAF, PAF_ZONES_RECORD_SIZE, 'paf zones');
    return { kind: 'zones', tsNs: h.tsNs, ...decodeZones(ZONES_EVENT.read(buf, 0).z) };
  }
  if (kind !== PAF_KIND.FAILURE) throw new DecodeError(`paf: unknown record kind ${kind}`);
  expectRecord(buf, EVENT_TYPE.PAF, PAF_FAILURE_RECORD_SIZE, 'paf failure');
  const e = FAILURE_EVENT.read(buf, 0);
  const { order, gfp, migratetype: mt, stackId, pid: tid, tgid: pid, comm } = e;
  const source = PAF_SOURCE[e.source as 1 | 2] ?? 'tracepoint';
  const { node, zones } = decodeZones(e.z);
  return {
    kind: 'failure',
    tsNs: h.tsNs,
    order,
    gfp,
    gfpNames: vocab.gfp.decode(gfp),
    ...(mt >= 0 ? { migratetype: mt, migratetypeName: vocab.migratetypes[mt] ?? String(mt) } : {}),
    tid,
    comm,
    pid,
    processName: comm,
    container: {},
    source,
    node,
    zones,
    zone: targetZone(gfp, zones),
    stackId,
    stack: [],
    ...(stackId < 0 ? { stackError: stackErrorText(-stackId) } : {}),
  };
}

function stackErrorText(errno: number): string {
  if (errno === 17) return 'stack map bucket taken by another stack (EEXIST)';
  if (errno === 14) return 'stack could not be walked (EFAULT)';
  if (errno === 12) return 'stack map full (ENOMEM)';
  return `no stack (errno ${errno})`;
}

// The frames a stack taken from a BPF program starts with before the allocator's own: the
// program ([bpf]), the tracepoint or kprobe machinery that ran it.
const TRACING_FRAME = /^(?:bpf_trace_run\d+|__bpf_trace_|__traceiter_|trace_call_bpf|perf_trace_|kprobe_|kretprobe_|__kretprobe_|pre_handler_kretprobe|rethook_|arch_rethook_|bpf_get_stack)|\[bpf\]$/;

/** The stack from the first frame that is not the tracing machinery on; empty when all are
 * (kernels before 5.13 cannot unwind a kretprobe's stack past its trampoline). */
export function withoutTracingFrames(frames: readonly KernelFrame[]): KernelFrame[] {
  const first = frames.findIndex((f) => !TRACING_FRAME.test(f.symbol));
  return first < 0 ? [] : frames.slice(first);
}

/** Symbolized frames of a stack's addresses (hex addresses without a usable symbol table), tracing frames left out. */
export function symbolizeStack(addrs: readonly bigint[], syms: KernelSymbols | undefined): KernelFrame[] {
  const usable = syms && !syms.restricted ? syms : undefined;
  return withoutTracingFrames(addrs.map((address) => ({ address, symbol: usable ? usable.format(address) : `0x${address.toString(16)}` })));
}

/** The keys and values of bpf/paf.h's count maps. */
export function decodeCountKey(key: Buffer): { gfp: number; order: number } {
  const k = COUNT_KEY.read(key, 0);
  return { gfp: k.gfp, order: k.order };
}

export function decodeRetry(key: Buffer, value: Buffer): Omit<PafRetry, 'count' | 'zoneName'> & { total: number } {
  const k = RETRY_KEY.read(key, 0);
  const v = RETRY_VAL.read(value, 0);
  return {
    node: k.node,
    zoneIndex: k.zoneIdx,
    order: k.order,
    total: v.count,
    reclaimable: v.reclaimable,
    available: v.available,
    minWmark: v.minWmark,
    noProgressLoops: v.noProgressLoops,
    wmarkCheck: v.wmarkCheck !== 0,
  };
}

// --- the source ------------------------------------------------------------------------------------

/** Kernel stacks by id: the stack map never replaces an id's stack (no BPF_F_REUSE_STACKID), so
 * each id is read and symbolized once. The kernel's symbol table is read in the background from
 * start-up (host/kallsyms.ts), and again, at most once a minute, when an address misses. */
class StackResolver {
  readonly #map: BpfMap;
  readonly #cache = new Map<number, KernelFrame[]>();

  constructor(map: BpfMap, log: Logger) {
    this.#map = map;
    void loadKernelSymbols().then((syms) => {
      if (syms.size === 0) log.warn('paf: /proc/kallsyms cannot be read: kernel stacks stay unsymbolized');
      else if (syms.restricted) log.warn('paf: /proc/kallsyms shows no addresses (kptr_restrict): kernel stacks stay unsymbolized');
    });
  }

  frames(id: number): KernelFrame[] | undefined {
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(id);
    const value = this.#map.lookup(key);
    if (!value) return undefined;
    let syms = kernelSymbols();
    const addrs = decodeStack(value);
    if (addrs.some((a) => unresolved(syms, a))) syms = refreshKernelSymbols(); // a module loaded since
    const frames = symbolizeStack(addrs, syms);
    this.#cache.set(id, frames);
    return frames;
  }
}

/** No symbol, or one so far below that the address is surely in code loaded since (a module). */
function unresolved(syms: KernelSymbols, addr: bigint): boolean {
  const sym = syms.resolve(addr);
  return !sym || sym.offset > 0x100000n;
}

/** Turns per-key running totals read from a map into per-poll increments. */
class Deltas {
  readonly #prev = new Map<string, number>();

  delta(key: Buffer, total: number): number {
    const k = key.toString('hex');
    const d = total - (this.#prev.get(k) ?? 0);
    this.#prev.set(k, total);
    return d > 0 ? d : 0;
  }
}

export class PafSource implements ProbeSource {
  readonly #rb: RingBufferSource;
  readonly #obj: BpfObject;
  readonly #emit: (r: PafRecord) => void;
  readonly #vocab: PafVocabulary;
  readonly #stacks: StackResolver;
  readonly #failureDeltas = new Deltas();
  readonly #retryDeltas = new Deltas();
  /** Zone names by node and index, from the latest snapshot (retries carry only the index). */
  readonly #zoneNames = new Map<number, string[]>();

  constructor(obj: BpfObject, vocab: PafVocabulary, log: Logger, emit: (r: PafRecord) => void) {
    this.#obj = obj;
    this.#emit = emit;
    this.#vocab = vocab;
    this.#stacks = new StackResolver(obj.map('stacks'), log);
    this.#rb = new RingBufferSource(obj, 'events', (buf) => this.#onEvent(buf), log, 'paf');
  }

  #onEvent(buf: Buffer): void {
    const rec = decodePafEvent(buf, this.#vocab);
    if (rec.zones.length) this.#zoneNames.set(rec.node, rec.zones.map((z) => z.name));
    if (rec.kind === 'failure') {
      rec.processName = processComm(rec.pid) ?? rec.comm;
      rec.container = readContainerOf(rec.pid);
      if (rec.stackId >= 0) {
        const frames = this.#stacks.frames(rec.stackId);
        if (!frames) rec.stackError = `stack ${rec.stackId} not in the stack map`;
        else if (frames.length === 0) rec.stackError = 'the kernel unwound no frame past the tracing machinery (kretprobe trampoline)';
        else rec.stack = frames;
      }
    }
    this.#emit(rec);
  }

  poll(): void {
    this.#rb.poll();
    this.#readCounts();
    this.#readRetries();
  }

  #readCounts(): void {
    const entries: PafFailureCount[] = [];
    for (const [key, value] of this.#obj.map('fail_counts').entries()) {
      const count = this.#failureDeltas.delta(key, Number(value.readBigUInt64LE(0)));
      if (count === 0) continue;
      const { gfp, order } = decodeCountKey(key);
      entries.push({ order, gfp, gfpNames: this.#vocab.gfp.decode(gfp), count });
    }
    if (entries.length) this.#emit({ kind: 'counts', entries });
  }

  #readRetries(): void {
    const entries: PafRetry[] = [];
    for (const [key, value] of this.#obj.map('retries').entries()) {
      const { total, ...r } = decodeRetry(key, value);
      const count = this.#retryDeltas.delta(key, total);
      if (count === 0) continue;
      const zoneName = this.#zoneNames.get(r.node)?.[r.zoneIndex];
      entries.push({ ...r, count, ...(zoneName ? { zoneName } : {}) });
    }
    if (entries.length) this.#emit({ kind: 'retries', entries });
  }

  counters(): { received: number; dropped: number } {
    return this.#rb.counters();
  }

  stop(): void {
    this.#rb.stop();
  }
}

// --- the probe ---------------------------------------------------------------------------------------

/** The page allocator's entry point, newest name first (the kprobe strategy's target). */
export const ALLOC_FUNCTIONS = ['__alloc_frozen_pages_noprof', '__alloc_pages_noprof', '__alloc_pages', '__alloc_pages_nodemask'] as const;

export function pafVocabulary(ctx: Pick<ProbeContext, 'kernel' | 'log'>): PafVocabulary {
  const { table, fallbackReason } = loadGfpTable(ctx.kernel.tracefs, ctx.kernel.version);
  if (fallbackReason) ctx.log.warn(`paf: GFP flag names from the built-in table, which may differ from this kernel's: ${fallbackReason}`);
  return { gfp: new GfpDecoder(table), migratetypes: migratetypeNames() };
}

export const pafProbe: ProbeDefinition<PafRecord, unknown> = {
  name: 'paf',
  object: 'paf',
  layouts: [FAILURE_EVENT, ZONES_EVENT, COUNT_KEY, RETRY_KEY, RETRY_VAL],
  // Failures are only seen on kmem:mm_page_alloc (every allocation runs its program, which
  // returns at once unless the page is NULL). Zone snapshots: self-triggered first (once per
  // interval in our own task, nothing on the host's context switches), then the rate-limited
  // sched_switch hooks of the fallbacks.
  strategies: [
    {
      name: 'uprobe',
      programs: [
        { program: 'paf_tp_btf' },
        { program: 'paf_zones_uprobe', selfTrigger: true },
        { program: 'paf_retry_tp_btf', optional: true },
      ],
      note: 'zone snapshots self-triggered once per interval (no per-switch cost); failures on kmem:mm_page_alloc as a BTF tracepoint',
    },
    {
      name: 'tp_btf',
      programs: [
        { program: 'paf_tp_btf' },
        { program: 'paf_zones_tp_btf', optional: true },
        { program: 'paf_retry_tp_btf', optional: true },
      ],
      note: 'kmem:mm_page_alloc as a BTF tracepoint (5.5+): typed arguments, page == NULL is the failure',
    },
    {
      name: 'tracepoint',
      programs: [
        { program: 'paf_tracepoint' },
        { program: 'paf_zones_tracepoint', optional: true },
        { program: 'paf_retry_tracepoint', optional: true },
      ],
      note: 'classic kmem:mm_page_alloc: pfn == -1UL is the failure, gfp_flags 4 or 8 bytes by kernel',
    },
    {
      name: 'kprobe',
      programs: [
        { program: 'paf_alloc_entry', functions: ALLOC_FUNCTIONS },
        { program: 'paf_alloc_return', functions: ALLOC_FUNCTIONS, retprobe: true },
        { program: 'paf_zones_kprobe', functions: ['finish_task_switch'], optional: true },
        { program: 'paf_retry_tracepoint', optional: true },
      ],
      note: 'the original tool\'s kprobe/kretprobe pair on the allocator: every allocation pays a map update',
    },
  ],
  configure(obj, ctx, strategy) {
    obj.setRodata({
      nr_nodes: Math.max(...ctx.kernel.numaNodes) + 1,
      min_interval_ns: BigInt(Math.round(ctx.interval * 1e9)),
      ...selfTriggerRodata(),
    });
    // Calls in flight per thread: only the kprobe pair uses them (1.1 MiB at full size).
    if (strategy.name !== 'kprobe') obj.map('inflight').setMaxEntries(1);
  },
  start(loaded: LoadedProbe, ctx: ProbeContext<unknown>, emit): ProbeSource {
    return new PafSource(loaded.obj, pafVocabulary(ctx), ctx.log, emit);
  },
};
