// pr: page reclaim, per source (kswapd, direct, memcg). The kernel side (bpf/pr.bpf.c) sums
// every shrink_inactive_list pass into per-CPU counters, read here once per interval in one map
// lookup; each direct or memcg reclaim call that ends is one ring buffer record (its stall).
//
// MGLRU: with lru_gen enabled, older kernels (6.1 among them; 6.12 has it) evict without the
// mm_vmscan_lru_shrink_inactive event, so passes and everything counted per pass (scanned,
// reclaimed, dirty, congested, writeback, immediate, activated) stay at zero there. The calls
// still are seen: their count, their stall durations and the nr_reclaimed their end event
// reports (callReclaimed, which includes slab pages). kswapd has no call events: under MGLRU
// on those kernels its reclaim is not visible to pr.
import { readFileSync } from 'node:fs';
import type { BpfObject } from '../../libbpf/object.ts';
import type { Logger } from '../../log.ts';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProbeSource, ProgramAttach } from '../../runtime/probe.ts';
import { array, chars, s32, struct, u32, u64, u64n, type Layout } from '../../runtime/layout.ts';
import { DecodeError, EVENT_HEADER, EVENT_TYPE, expectRecord } from '../../runtime/record.ts';
import { RingBufferSource } from '../../runtime/ringbuf-source.ts';

/** enum pr_source (bpf/pr.h), in order. */
export const PR_SOURCES = ['kswapd', 'direct', 'memcg'] as const;
export type PrSourceName = (typeof PR_SOURCES)[number];

/** struct pr_counters (bpf/pr.h), in order; all u64. */
const COUNTER_FIELDS = [
  'passes', 'scanned', 'reclaimed', 'unqueuedDirty', 'congested', 'writeback', 'immediate', 'activated',
  'folioLists', 'nrToReclaim', 'calls', 'callReclaimed', 'stallNs',
] as const;
type CounterField = (typeof COUNTER_FIELDS)[number];

/** Fields only some strategies can see; undefined in a record when the attached hooks cannot. */
export type OptionalCounter = 'unqueuedDirty' | 'folioLists' | 'nrToReclaim';

export type PrCounters = Record<Exclude<CounterField, OptionalCounter>, number> & Record<OptionalCounter, number | undefined>;

const COUNTERS = struct(Object.fromEntries(COUNTER_FIELDS.map((f) => [f, u64n])) as Record<CounterField, Layout<bigint>>, 'pr_counters');
/** One value of the per-CPU `totals` map, per CPU. */
export const TOTALS = struct({ src: array(COUNTERS, PR_SOURCES.length) }, 'pr_totals');
export const STALL_EVENT = struct({
  hdr: EVENT_HEADER, source: u32, tid: u32, durationNs: u64, nrReclaimed: u64, gfp: u64, order: s32, _pad: u32, comm: chars(16),
}, 'pr_stall_event');
export const PR_TOTALS_SIZE = TOTALS.size;
export const PR_STALL_RECORD_SIZE = STALL_EVENT.size;

/** Cumulative counters since the probe loaded, summed over CPUs. */
export interface PrTotalsRecord {
  kind: 'totals';
  /** MGLRU enabled (/sys/kernel/mm/lru_gen/enabled) when read. */
  lruGen: boolean;
  sources: Record<PrSourceName, PrCounters>;
}

/** One direct or memcg reclaim call, begin to end. */
export interface PrStallRecord {
  kind: 'stall';
  tsNs: bigint;
  source: 'direct' | 'memcg';
  tid: number;
  comm: string;
  durationNs: number;
  /** As the end event reports it: LRU and slab pages. */
  nrReclaimed: number;
  gfp: number;
  order: number;
}

export type PrRecord = PrTotalsRecord | PrStallRecord;

export interface PrVisibility {
  /** The shrink_inactive hook is the BTF tracepoint (struct reclaim_stat). */
  unqueuedDirty: boolean;
  /** A shrink_folio_list/shrink_page_list hook is attached (scan_control). */
  nrToReclaim: boolean;
}

/** Decodes one lookup of the per-CPU `totals` map: PR_TOTALS_SIZE bytes per possible CPU. */
export function decodePrTotals(buf: Buffer, visible: PrVisibility, lruGen = false): PrTotalsRecord {
  const slot = Math.ceil(PR_TOTALS_SIZE / 8) * 8;
  if (buf.length === 0 || buf.length % slot !== 0) {
    throw new DecodeError(`pr: totals value of ${buf.length} bytes is not a multiple of ${slot} (BPF object and reader out of step: rebuild with npm run build:bpf)`);
  }
  const perCpu = Array.from({ length: buf.length / slot }, (_, cpu) => TOTALS.read(buf, cpu * slot).src);
  const sources = {} as Record<PrSourceName, PrCounters>;
  PR_SOURCES.forEach((source, s) => {
    const c = {} as Record<CounterField, number | undefined>;
    for (const field of COUNTER_FIELDS) c[field] = Number(perCpu.reduce((sum, cpu) => sum + cpu[s]![field], 0n));
    if (!visible.unqueuedDirty) c.unqueuedDirty = undefined;
    if (!visible.nrToReclaim) {
      c.folioLists = undefined;
      c.nrToReclaim = undefined;
    }
    sources[source] = c as PrCounters;
  });
  return { kind: 'totals', lruGen, sources };
}

export function decodePrStall(buf: Buffer): PrStallRecord {
  expectRecord(buf, EVENT_TYPE.PR, PR_STALL_RECORD_SIZE, 'pr');
  const e = STALL_EVENT.read(buf, 0);
  const source = PR_SOURCES[e.source];
  if (source !== 'direct' && source !== 'memcg') throw new DecodeError(`pr: stall of source ${e.source}, expected direct or memcg`);
  return { kind: 'stall', tsNs: e.hdr.tsNs, source, tid: e.tid, comm: e.comm, durationNs: e.durationNs, nrReclaimed: e.nrReclaimed, gfp: e.gfp, order: e.order };
}

/** Counters of `b` minus those of `a` (per interval); undefined stays undefined. */
export function counterDelta(a: PrCounters | undefined, b: PrCounters): PrCounters {
  const out = {} as Record<CounterField, number | undefined>;
  for (const f of COUNTER_FIELDS) {
    const now = b[f];
    const before = a?.[f] ?? 0;
    out[f] = now === undefined ? undefined : now - before;
  }
  return out as PrCounters;
}

function sameTotals(a: PrTotalsRecord, b: PrTotalsRecord): boolean {
  return a.lruGen === b.lruGen && PR_SOURCES.every((s) => COUNTER_FIELDS.every((f) => a.sources[s][f] === b.sources[s][f]));
}

export function lruGenEnabled(path = '/sys/kernel/mm/lru_gen/enabled'): boolean {
  try {
    return Number.parseInt(readFileSync(path, 'utf8').trim(), 16) !== 0; // a capability mask, 0x0000 when off
  } catch {
    return false; // no CONFIG_LRU_GEN
  }
}

/** Which optional counters the attached programs can see. */
export function visibility(attached: readonly string[]): PrVisibility {
  return {
    unqueuedDirty: attached.includes('pr_shrink_inactive_btf'),
    nrToReclaim: attached.some((p) => FOLIO_LIST_PROGRAMS.includes(p)),
  };
}

const FOLIO_LIST_PROGRAMS = ['pr_folio_list_kprobe', 'pr_folio_list_fentry', 'pr_page_list_fentry'];

/** Polls the stall ring buffer on every tick and reads the counters once per interval. */
class PrSource implements ProbeSource {
  readonly #obj: BpfObject;
  readonly #stalls: RingBufferSource;
  readonly #emit: (r: PrRecord) => void;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #visible: PrVisibility;
  #lastRead = -Infinity;
  #last: PrTotalsRecord | undefined;
  #totalsEmitted = 0;
  #mglruWarned = false;

  constructor(obj: BpfObject, visible: PrVisibility, intervalMs: number, emit: (r: PrRecord) => void, log: Logger) {
    this.#obj = obj;
    this.#visible = visible;
    this.#intervalMs = intervalMs;
    this.#emit = emit;
    this.#log = log;
    this.#stalls = new RingBufferSource(obj, 'events', (buf) => emit(decodePrStall(buf)), log, 'pr');
  }

  poll(nowMs: number): void {
    this.#stalls.poll();
    if (nowMs - this.#lastRead < this.#intervalMs) return;
    this.#lastRead = nowMs;
    this.#readTotals();
  }

  #readTotals(): void {
    const value = this.#obj.map('totals').lookup(Buffer.alloc(4));
    if (!value) return;
    const rec = decodePrTotals(value, this.#visible, lruGenEnabled());
    if (this.#last && sameTotals(this.#last, rec)) return;
    this.#warnIfMglruHides(rec);
    this.#last = rec;
    this.#totalsEmitted++;
    this.#emit(rec);
  }

  #warnIfMglruHides(rec: PrTotalsRecord): void {
    if (this.#mglruWarned || !rec.lruGen) return;
    const calls = (r: PrTotalsRecord | undefined) => (r ? r.sources.direct.calls + r.sources.memcg.calls : 0);
    const passes = (r: PrTotalsRecord | undefined) => (r ? PR_SOURCES.reduce((n, s) => n + r.sources[s].passes, 0) : 0);
    if (calls(rec) > calls(this.#last) && passes(rec) === passes(this.#last)) {
      this.#mglruWarned = true;
      this.#log.warn('pr: MGLRU (lru_gen) reclaims without the mm_vmscan_lru_shrink_inactive event on this kernel: '
        + 'per-pass counts (scanned, reclaimed, dirty, congested, writeback, immediate) stay at 0 and kswapd is not seen; '
        + 'direct and memcg reclaim calls, their stall durations and the pages they report reclaimed still are');
    }
  }

  counters(): { received: number; dropped: number } {
    const c = this.#stalls.counters();
    return { received: c.received + this.#totalsEmitted, dropped: c.dropped };
  }

  stop(): void {
    this.#stalls.stop();
    this.#readTotals();
  }
}

// Hooks as data. Begin/end brackets decide the source of each pass (see bpf/pr.bpf.c).
const TP_BTF_HOOKS: readonly ProgramAttach[] = [
  { program: 'pr_shrink_inactive_btf' },
  { program: 'pr_direct_begin_btf' },
  { program: 'pr_direct_end_btf' },
  { program: 'pr_memcg_begin_btf' },
  { program: 'pr_memcg_end_btf' },
  { program: 'pr_softlimit_begin_btf' },
  { program: 'pr_softlimit_end_btf' },
];
// memcg events exist only with CONFIG_MEMCG: optional here, where they fail at attach (a tp_btf
// program fails at load already, so optional would not help there).
const TRACEPOINT_HOOKS: readonly ProgramAttach[] = [
  { program: 'pr_shrink_inactive_tp' },
  { program: 'pr_direct_begin_tp' },
  { program: 'pr_direct_end_tp' },
  { program: 'pr_memcg_begin_tp', optional: true },
  { program: 'pr_memcg_end_tp', optional: true },
  { program: 'pr_softlimit_begin_tp', optional: true },
  { program: 'pr_softlimit_end_tp', optional: true },
];

export const prProbe: ProbeDefinition<PrRecord, unknown> = {
  name: 'pr',
  object: 'pr',
  layouts: [TOTALS, STALL_EVENT],
  // tp_btf first: the BTF tracepoint hands over struct reclaim_stat, so it has the most fields
  // (unqueued dirty included) without a kprobe, on a stable hook. Only the RECLAIM column
  // (scan_control.nr_to_reclaim) needs shrink_folio_list, a static function that was renamed
  // (shrink_page_list before 6.1) and whose arguments are no ABI: the strategies that hook it
  // come last and are chosen with probes.pr.strategy=fentry|kprobe.
  strategies: [
    { name: 'tp_btf', programs: TP_BTF_HOOKS, note: 'BTF tracepoints (5.5+): every per-pass field incl. unqueued dirty; no RECLAIM' },
    { name: 'tracepoint', programs: TRACEPOINT_HOOKS, note: 'classic tracepoints: no unqueued dirty, no RECLAIM' },
    { name: 'fentry', programs: [{ program: 'pr_folio_list_fentry' }, ...TP_BTF_HOOKS], note: 'shrink_folio_list trampoline (6.1+) for RECLAIM, with the BTF tracepoints' },
    { name: 'fentry', programs: [{ program: 'pr_page_list_fentry' }, ...TP_BTF_HOOKS], note: 'shrink_page_list trampoline (before 6.1) for RECLAIM, with the BTF tracepoints' },
    {
      name: 'kprobe',
      programs: [{ program: 'pr_folio_list_kprobe', functions: ['shrink_folio_list', 'shrink_page_list'] }, ...TRACEPOINT_HOOKS],
      note: 'the original tool\'s kprobe for RECLAIM, with the classic tracepoints: no unqueued dirty',
    },
  ],
  start(loaded: LoadedProbe, ctx: ProbeContext<unknown>, emit): ProbeSource {
    return new PrSource(loaded.obj, visibility(loaded.attached), ctx.interval * 1000, emit, ctx.log);
  },
};
