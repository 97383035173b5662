// The oom probe's records: the kernel's layouts (bpf/oom.h) declared once, their decoding, and
// the records the source emits (a kill with its enrichment and reap timing, and memory
// pressure per interval).
import type { ContainerInfo } from '../../host/container.ts';
import { DecodeError, EVENT_HEADER, EVENT_TYPE, HEADER_SIZE, MW_ZONE, readHeader } from '../../runtime/record.ts';
import { array, chars, s32, s64, struct, u32, u64, u64n } from '../../runtime/layout.ts';

// --- kernel layouts (bpf/oom.h) ----------------------------------------------------------------

export const OOM_KIND = { KILL: 1, REAP: 2 } as const;
export const OOM_HOOK = { 1: 'tp_btf', 2: 'tracepoint' } as const;
export const OOM_FLAG = { VICTIM_TASK: 1, TP_FIELDS: 2, CTL: 4, NO_MM: 8 } as const;
export const OOM_MEMCG_DEPTH = 8;
export const OOM_LEADUP_LEN = 8;
const MAX_ZONES = 6; // MW_MAX_ZONES
const COMM_LEN = 16;

export const MEMCG = struct({ cgroupId: u64, usage: u64, max: u64, swapUsage: u64, swapMax: u64, oomKill: u64 }, 'oom_memcg');
export const MEMCG_CHAIN = struct({ depth: u32, _pad: u32, m: array(MEMCG, OOM_MEMCG_DEPTH) }, 'oom_memcg_chain');
const ctl = struct({ gfp: u64, totalpages: u64, chosenPoints: s64, memcgCgroupId: u64, order: s32, constraint: u32 }, 'oom_ctl');
const node = struct({ node: u32, nrZones: u32, fileLru: u64, slabReclaimable: u64, miscReclaimable: u64, zones: array(MW_ZONE, MAX_ZONES) }, 'oom_node');
export const RETRY = struct({
  tsNs: u64n, kind: u32, order: s32,
  node: s32, zoneIdx: s32, noProgressLoops: s32, wmarkCheck: u32, reclaimable: u64, available: u64, minWmark: u64,
  priority: s32, result: s32, retries: s32, maxRetries: s32, shouldRetry: u32, _pad: u32,
}, 'oom_retry');
export const LEADUP = struct({ total: u64, firstTsNs: u64n, r: array(RETRY, OOM_LEADUP_LEN) }, 'oom_leadup');

/** struct oom_kill_event */
export const KILL_EVENT = struct({
  hdr: EVENT_HEADER,
  kind: u32,
  hook: u32,
  flags: u32,
  victimPid: u32,
  victimTgid: u32,
  uid: u32,
  victimComm: chars(COMM_LEN),
  oomScoreAdj: s32,
  _pad0: u32,
  victimStartNs: u64n,
  totalVm: u64,
  rssFile: u64,
  rssAnon: u64,
  swapEnts: u64,
  rssShmem: u64,
  pgtablesBytes: u64,
  triggerPid: u32,
  triggerTgid: u32,
  triggerComm: chars(COMM_LEN),
  triggerMemcg: MEMCG_CHAIN,
  victimMemcg: MEMCG_CHAIN,
  ctl,
  node,
  leadup: LEADUP,
}, 'oom_kill_event');

/** struct oom_reap_event */
export const REAP_EVENT = struct({ hdr: EVENT_HEADER, kind: u32, phase: u32, victimPid: u32, _pad: u32, killTsNs: u64n }, 'oom_reap_event');

export const OOM_KILL_RECORD_SIZE = KILL_EVENT.size;
export const OOM_REAP_RECORD_SIZE = REAP_EVENT.size;

export type RawKillEvent = ReturnType<typeof KILL_EVENT.read>;
export type RawReapEvent = ReturnType<typeof REAP_EVENT.read>;
export type RawMemcg = ReturnType<typeof MEMCG.read>;
export type RawRetry = ReturnType<typeof RETRY.read>;
export type RawNode = ReturnType<typeof node.read>;

export const REAP_PHASES = { 1: 'wake_reaper', 2: 'start_task_reaping', 3: 'finish_task_reaping', 4: 'skip_task_reaping', 5: 'exit_mmap', 6: 'exit' } as const;
export type ReapPhase = (typeof REAP_PHASES)[keyof typeof REAP_PHASES];

/** Decodes one ring-buffer record of the oom object: a kill or a reap step. */
export function decodeOomEvent(buf: Buffer): { kind: 'kill'; raw: RawKillEvent } | { kind: 'reap'; raw: RawReapEvent } {
  const h = readHeader(buf);
  if (h.type !== EVENT_TYPE.OOM) throw new DecodeError(`oom: record type ${h.type}, expected ${EVENT_TYPE.OOM}`);
  if (buf.length < HEADER_SIZE + 4) throw new DecodeError(`oom: record of ${buf.length} bytes has no kind`);
  const kind = buf.readUInt32LE(HEADER_SIZE);
  const expect = kind === OOM_KIND.KILL ? OOM_KILL_RECORD_SIZE : kind === OOM_KIND.REAP ? OOM_REAP_RECORD_SIZE : -1;
  if (expect < 0) throw new DecodeError(`oom: unknown record kind ${kind}`);
  if (h.size !== expect || buf.length < expect) {
    throw new DecodeError(`oom ${kind === OOM_KIND.KILL ? 'kill' : 'reap'}: record of ${buf.length} bytes says ${h.size}, this reader expects ${expect} (BPF object and reader out of step: rebuild with npm run build:bpf)`);
  }
  if (kind === OOM_KIND.KILL) return { kind: 'kill', raw: KILL_EVENT.read(buf, 0) };
  const raw = REAP_EVENT.read(buf, 0);
  if (!(raw.phase in REAP_PHASES)) throw new DecodeError(`oom reap: unknown phase ${raw.phase}`);
  return { kind: 'reap', raw };
}

// --- records -----------------------------------------------------------------------------------

/** memwatcher.oom.constraint */
export type OomConstraint = 'global' | 'memcg' | 'cpuset' | 'mempolicy';

/** enum oom_constraint of the kernel (oom_control.constraint) */
export const KERNEL_CONSTRAINTS: Record<number, OomConstraint> = { 0: 'global', 1: 'cpuset', 2: 'mempolicy', 3: 'memcg' };

export interface OomMemcg {
  /** kernfs id of the memcg's cgroup: the inode of its directory. */
  cgroupId: number;
  /** Under the memory controller's hierarchy mount (v1) or the unified one (v2); undefined when it could not be found. */
  path?: string;
  usageBytes: number;
  /** undefined: unlimited. memory.limit_in_bytes (v1) or memory.max (v2). */
  limitBytes?: number;
  /** memory+swap on cgroup v1 (memsw), swap on v2. */
  swapUsageBytes: number;
  swapLimitBytes?: number;
  /** The kernel's oom_kill event count of this memcg, after this kill. */
  oomKills: number;
}

export interface OomRetry {
  tsNs: bigint;
  kind: 'reclaim_retry_zone' | 'compact_retry';
  order: number;
  node?: number;
  zoneIndex?: number;
  zoneName?: string;
  noProgressLoops?: number;
  wmarkCheck?: boolean;
  reclaimablePages?: number;
  availablePages?: number;
  minWmarkPages?: number;
  priority?: string;
  result?: string;
  retries?: number;
  maxRetries?: number;
  shouldRetry?: boolean;
}

export interface OomZone {
  name: string;
  /** As /proc/zoneinfo shows them: _watermark[] + boost, in pages. */
  min: number;
  low: number;
  high: number;
  free: number;
  managed: number;
}

export interface OomNodeState {
  node: number;
  freeBytes: number;
  /** si_mem_available() for this node, without lowmem_reserve (not read). */
  availableBytes: number;
  zones: OomZone[];
}

export interface OomProcessRss {
  pid: number;
  comm: string;
  rssBytes: number;
  container: ContainerInfo;
}

export interface OomReap {
  /** ms after the kill; undefined when that step was not seen. */
  wakeReaperMs?: number;
  startReapingMs?: number;
  finishReapingMs?: number;
  skipReapingMs?: number;
  exitMmapMs?: number;
  exitMs?: number;
  /** Kill to the victim's memory back: the reaper finishing or its mm torn down, whichever came first. */
  reapMs?: number;
  by?: 'oom_reaper' | 'exit_mmap' | 'exit';
}

export interface OomKill {
  kind: 'kill';
  tsNs: bigint;
  /** How mark_victim was seen. */
  hook: 'tp_btf' | 'tracepoint';
  victim: {
    pid: number;
    tid: number;
    comm: string;
    uid?: number;
    oomScoreAdj?: number;
    /** task (its task_struct and mm), tracepoint (the tracepoint's own fields), none (pid only). */
    source: 'task' | 'tracepoint' | 'none';
    totalVmBytes?: number;
    rssAnonBytes?: number;
    rssFileBytes?: number;
    rssShmemBytes?: number;
    swapBytes?: number;
    pageTablesBytes?: number;
    container: ContainerInfo;
  };
  trigger: { pid: number; tid: number; comm: string; container: ContainerInfo };
  constraint: OomConstraint;
  /** oom_control: the kernel's own (kprobe/fentry on oom_kill_process); memcg_limit: a memcg of
   * the trigger (or else of the victim) at its limit; no_memcg_at_limit: none was, so global. */
  constraintSource: 'oom_control' | 'memcg_limit' | 'no_memcg_at_limit';
  /** The memcg whose limit was hit (memcg OOM), else the victim's own memcg. */
  memcg?: OomMemcg;
  victimMemcg?: OomMemcg;
  order?: number;
  gfp?: number;
  gfpNames?: string;
  /** Where order (and gfp) come from. */
  orderSource: 'oom_control' | 'last_retry' | 'unknown';
  totalPages?: number;
  chosenPoints?: number;
  node: OomNodeState;
  /** The trigger's slow-path retries before the kill (latest OOM_LEADUP_LEN kept, oldest first). */
  leadup: { total: number; retries: OomRetry[] };
  /** Top five by RSS in the OOM's memcg (memcg kill) or on the host (global), read from /proc when the record arrived. */
  topProcesses: OomProcessRss[];
  topScope: 'memcg' | 'host';
  reap: OomReap;
  /** Why reap timing is missing or partial. */
  reapNote?: string;
}

export interface PressureTotals {
  /** Cumulative stall time in seconds (PSI total, µs / 1e6). */
  someSeconds: number;
  fullSeconds?: number;
}

export interface MemcgEvents {
  low?: number;
  high?: number;
  max?: number;
  oom?: number;
  oom_kill?: number;
  oom_group_kill?: number;
}

export interface CgroupPressure {
  /** Path under its hierarchy's mount, starting with '/'. */
  path: string;
  version: 1 | 2;
  container: ContainerInfo;
  /** memory.pressure (v2). */
  pressure?: PressureTotals;
  /** memory.events (v2), or what v1 has of them (oom_kill from memory.oom_control). */
  events?: MemcgEvents;
  /** cgroup v1: memory.oom_control's under_oom and memory.failcnt. */
  underOom?: boolean;
  failcnt?: number;
}

export interface OomPressure {
  kind: 'pressure';
  tsMs: number;
  /** /proc/pressure/memory; undefined without PSI. */
  host?: PressureTotals;
  cgroups: CgroupPressure[];
}

export type OomRecord = OomKill | OomPressure;
