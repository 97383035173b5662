// procstat: per-process memory, read in the kernel from each process's mm_struct once per
// interval by a task iterator (or, in the fallback strategies, when one of its threads is
// switched out), emitted on change (bpf/procstat.bpf.c). Here: the records, the strategies, and
// the table of latest values per process that exporters select from.
import type { ContainerInfo } from '../../host/container.ts';
import type { KernelInfo } from '../../host/kernel.ts';
import { readIterator } from '../../libbpf/ffi.ts';
import { nrPossibleCpus } from '../../libbpf/map.ts';
import type { BpfObject } from '../../libbpf/object.ts';
import type { Logger } from '../../log.ts';
import { Cadence } from '../../runtime/cadence.ts';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProbeSource } from '../../runtime/probe.ts';
import { array, chars, struct, u32, u64, u64n } from '../../runtime/layout.ts';
import { DecodeError, EVENT_HEADER, EVENT_TYPE, expectRecord, readHeader } from '../../runtime/record.ts';
import { RingBufferSource } from '../../runtime/ringbuf-source.ts';
import type { ProcstatConfig } from './config.ts';
import { withContainers } from './enrich.ts';

// rss[] is in enum procstat_rss_member order: file, anon, swap, shmem.
const VALUES = struct({ totalVm: u64, hiwaterRss: u64, dataVm: u64, stackVm: u64, pgtablesBytes: u64, rss: array(u64, 4) }, 'procstat_values');
export const PROCSTAT_EVENT = struct({ hdr: EVENT_HEADER, tgid: u32, _pad: u32, startNs: u64n, comm: chars(16), v: VALUES }, 'procstat_event');
export const PROCSTAT_EXIT_EVENT = struct({ hdr: EVENT_HEADER, tgid: u32, _pad: u32, startNs: u64n }, 'procstat_exit_event');
export const PROCSTAT_RECORD_SIZE = PROCSTAT_EVENT.size;
export const PROCSTAT_EXIT_RECORD_SIZE = PROCSTAT_EXIT_EVENT.size;

/** What /proc/PID/status shows, in bytes (its names in comments). */
export interface ProcessMemory {
  vmSize: number; // VmSize
  vmHwm: number; // VmHWM: max(hiwater_rss, current RSS)
  vmData: number; // VmData
  vmStk: number; // VmStk
  vmPte: number; // VmPTE
  vmSwap: number; // VmSwap
  rssAnon: number; // RssAnon
  rssFile: number; // RssFile
  rssShmem: number; // RssShmem
  rss: number; // VmRSS = RssAnon + RssFile + RssShmem
}

export interface ProcstatSample {
  kind: 'sample';
  pid: number;
  /** Group leader's start time (ns since boot): with pid, identifies the process. */
  startNs: bigint;
  /** Group leader's comm (15 characters at most). */
  comm: string;
  /** bpf_ktime_get_ns() of the read (CLOCK_MONOTONIC). */
  tsNs: bigint;
  memory: ProcessMemory;
  /** Set by the source (enrich.ts); absent only on records decoded outside it. */
  container?: ContainerInfo;
}

export interface ProcstatExit {
  kind: 'exit';
  pid: number;
  startNs: bigint;
  tsNs: bigint;
}

export type ProcstatRecord = ProcstatSample | ProcstatExit;

export function decodeProcstat(buf: Buffer, kernel: Pick<KernelInfo, 'pageSize'>): ProcstatRecord {
  const h = readHeader(buf);
  if (h.type === EVENT_TYPE.PROCSTAT_EXIT) {
    expectRecord(buf, EVENT_TYPE.PROCSTAT_EXIT, PROCSTAT_EXIT_RECORD_SIZE, 'procstat exit');
    const e = PROCSTAT_EXIT_EVENT.read(buf, 0);
    return { kind: 'exit', pid: e.tgid, startNs: e.startNs, tsNs: h.tsNs };
  }
  if (h.type !== EVENT_TYPE.PROCSTAT) {
    throw new DecodeError(`procstat: record type ${h.type}, expected ${EVENT_TYPE.PROCSTAT} or ${EVENT_TYPE.PROCSTAT_EXIT}`);
  }
  expectRecord(buf, EVENT_TYPE.PROCSTAT, PROCSTAT_RECORD_SIZE, 'procstat');
  const e = PROCSTAT_EVENT.read(buf, 0);
  const { totalVm, hiwaterRss, dataVm, stackVm, pgtablesBytes } = e.v;
  const [file, anon, swap, shmem] = e.v.rss as [number, number, number, number];
  const page = kernel.pageSize;
  const rssPages = anon + file + shmem;
  return {
    kind: 'sample',
    pid: e.tgid,
    startNs: e.startNs,
    comm: e.comm,
    tsNs: h.tsNs,
    memory: {
      vmSize: totalVm * page,
      vmHwm: Math.max(hiwaterRss, rssPages) * page,
      vmData: dataVm * page,
      vmStk: stackVm * page,
      vmPte: pgtablesBytes,
      vmSwap: swap * page,
      rssAnon: anon * page,
      rssFile: file * page,
      rssShmem: shmem * page,
      rss: rssPages * page,
    },
  };
}

/** The iterator's output: procstat records back to back. */
export function decodeSnapshot(buf: Buffer, kernel: Pick<KernelInfo, 'pageSize'>): ProcstatRecord[] {
  if (buf.length % PROCSTAT_RECORD_SIZE !== 0) {
    throw new DecodeError(`procstat snapshot of ${buf.length} bytes is not a whole number of ${PROCSTAT_RECORD_SIZE}-byte records`);
  }
  const out: ProcstatRecord[] = [];
  for (let off = 0; off < buf.length; off += PROCSTAT_RECORD_SIZE) {
    out.push(decodeProcstat(buf.subarray(off, off + PROCSTAT_RECORD_SIZE), kernel));
  }
  return out;
}

/** Which processes get data points: the N largest by RSS, plus those asked for by pid or name. */
export interface ProcessSelection {
  top: number;
  pids: readonly number[];
  comms: readonly string[];
}

export function selectionFromConfig(c: { top: number; pids: number[]; comms: string[] }): ProcessSelection {
  return { top: c.top, pids: c.pids, comms: c.comms };
}

/** comm is the kernel's 15-character truncation: a longer --comm matches its first 15. */
export function commMatches(comm: string, names: readonly string[]): boolean {
  return names.some((n) => n === comm || n.slice(0, 15) === comm);
}

/** How long an exited process's identity is remembered, to ignore a read that raced its exit. */
const EXITED_MEMORY_NS = 10_000_000_000n;

/**
 * The latest sample of every live process, as the records say. Exporters each keep one and
 * pick from it with select(); an exit record removes the process at once.
 */
export class ProcessTable {
  readonly #latest = new Map<number, ProcstatSample>();
  readonly #exited = new Map<string, bigint>();

  apply(rec: ProcstatRecord): void {
    const key = `${rec.pid}:${rec.startNs}`;
    if (rec.kind === 'exit') {
      const cur = this.#latest.get(rec.pid);
      if (cur && cur.startNs === rec.startNs) this.#latest.delete(rec.pid);
      this.#exited.set(key, rec.tsNs);
      for (const [k, ts] of this.#exited) if (rec.tsNs - ts > EXITED_MEMORY_NS) this.#exited.delete(k);
      return;
    }
    if (this.#exited.has(key)) return;
    this.#latest.set(rec.pid, rec);
  }

  get(pid: number): ProcstatSample | undefined {
    return this.#latest.get(pid);
  }

  get size(): number {
    return this.#latest.size;
  }

  /** Drops a process that is gone without an exit record (one lost to a full ring buffer). */
  forget(pid: number): void {
    this.#latest.delete(pid);
  }

  /** The N largest by RSS (ties: lower pid first). */
  top(n: number): ProcstatSample[] {
    return [...this.#latest.values()]
      .sort((a, b) => b.memory.rss - a.memory.rss || a.pid - b.pid)
      .slice(0, n);
  }

  /** Processes named by pid or comm. */
  filtered(sel: ProcessSelection): ProcstatSample[] {
    if (sel.pids.length === 0 && sel.comms.length === 0) return [];
    const pids = new Set(sel.pids);
    return [...this.#latest.values()].filter((s) => pids.has(s.pid) || commMatches(s.comm, sel.comms));
  }

  /** The top N plus the filtered ones, each once, largest first. */
  select(sel: ProcessSelection): ProcstatSample[] {
    const out = new Map<number, ProcstatSample>();
    for (const s of this.top(sel.top)) out.set(s.pid, s);
    for (const s of this.filtered(sel)) out.set(s.pid, s);
    return [...out.values()].sort((a, b) => b.memory.rss - a.memory.rss || a.pid - b.pid);
  }
}

/**
 * The iter strategy's source: the task iterator run once per interval in this process (its
 * output: the processes that are new or changed), and the ring buffer of exit records.
 */
export class IteratorSource implements ProbeSource {
  readonly #rb: RingBufferSource;
  readonly #progFd: number;
  readonly #cadence: Cadence;
  readonly #kernel: Pick<KernelInfo, 'pageSize'>;
  readonly #emit: (r: ProcstatRecord) => void;
  readonly #log: Logger;
  #passes = 0;
  #received = 0;
  #failed = 0;

  constructor(obj: BpfObject, periodMs: number, kernel: Pick<KernelInfo, 'pageSize'>, log: Logger, emit: (r: ProcstatRecord) => void) {
    this.#progFd = obj.program('procstat_iter').fd;
    this.#cadence = new Cadence(periodMs);
    this.#kernel = kernel;
    this.#emit = emit;
    this.#log = log;
    this.#rb = new RingBufferSource(obj, 'events', (buf) => emit(decodeProcstat(buf, kernel)), log, 'procstat');
  }

  /** Iterator passes run so far. */
  get passes(): number {
    return this.#passes;
  }

  /** One pass now: every process that is new or changed since the previous pass. */
  pass(): void {
    let records: ProcstatRecord[];
    try {
      records = decodeSnapshot(readIterator(this.#progFd, 'procstat_iter'), this.#kernel);
    } catch (err) {
      // A failed pass leaves what was sent unchanged for what it did not write: the next one retries.
      if (this.#failed++ === 0) this.#log.warn(`procstat: task iterator pass failed: ${(err as Error).message}`);
      return;
    }
    this.#passes++;
    for (const r of records) this.#emit(r);
    this.#received += records.length;
  }

  poll(nowMs: number): void {
    // Samples before exits: an exit drained after its process's last sample removes it.
    if (this.#cadence.due(nowMs)) this.pass();
    this.#rb.poll();
  }

  counters(): { received: number; dropped: number } {
    const c = this.#rb.counters();
    return { received: c.received + this.#received, dropped: c.dropped };
  }

  stop(): void {
    this.#rb.stop();
  }
}

export const procstatProbe: ProbeDefinition<ProcstatRecord, ProcstatConfig> = {
  name: 'procstat',
  object: 'procstat',
  layouts: [PROCSTAT_EVENT, PROCSTAT_EXIT_EVENT],
  // The task iterator first: every process read once per interval in mem-watcher's own task,
  // and nothing on the host's context switches or page faults (5.8+, which every supported
  // kernel is). Then tracepoints: a stable ABI on every kernel, where finish_task_switch is a
  // static function that gets inlined or renamed (.isra) and is invisible to kprobes on kernels
  // built without them. The original tool's finish_task_switch hooks stay for kernels whose tracepoints
  // are off. The exit hook is sched_process_exit everywhere; rss_stat (5.5+) is optional, and
  // only the switch strategies need it (a process that sleeps is read by the iterator anyway).
  strategies: [
    {
      name: 'iter',
      note: 'a task iterator run once per interval by mem-watcher (5.8+): no per-switch or per-fault cost; exit via tp_btf',
      programs: [
        { program: 'procstat_iter', iterator: true },
        { program: 'procstat_tp_btf_exit' },
      ],
    },
    {
      name: 'tp_btf',
      note: 'sched_switch and sched_process_exit as BTF tracepoints (5.5+; ring buffer: 5.8+)',
      programs: [
        { program: 'procstat_tp_btf_switch' },
        { program: 'procstat_tp_btf_exit' },
        { program: 'procstat_rss_stat', optional: true },
      ],
    },
    {
      name: 'tracepoint',
      note: 'classic sched:sched_switch (current is prev) and sched:sched_process_exit',
      programs: [
        { program: 'procstat_tracepoint_switch' },
        { program: 'procstat_tracepoint_exit' },
        { program: 'procstat_rss_stat', optional: true },
      ],
    },
    {
      name: 'fentry',
      note: 'the original tool\'s finish_task_switch through a trampoline; exit via tp_btf',
      programs: [
        { program: 'procstat_fentry_switch' },
        { program: 'procstat_tp_btf_exit' },
        { program: 'procstat_rss_stat', optional: true },
      ],
    },
    {
      name: 'kprobe',
      note: 'the original tool\'s hook (finish_task_switch, or its .isra clone); exit via the classic tracepoint',
      programs: [
        { program: 'procstat_kprobe_switch', functions: ['finish_task_switch'] },
        { program: 'procstat_tracepoint_exit' },
        { program: 'procstat_rss_stat', optional: true },
      ],
    },
  ],
  configure(obj, ctx, strategy) {
    const p = ctx.config;
    obj.setRodata({
      min_interval_ns: BigInt(Math.round(ctx.interval * 1e9)),
      nr_cpus: nrPossibleCpus(),
    });
    obj.map('procs').setMaxEntries(p.max_processes);
    // Deferred reads: only the switch strategies make them.
    obj.map('deferred').setMaxEntries(strategy.name === 'iter' ? 1 : p.max_processes);
    // The start-up snapshot (see start) is loaded with the switch strategies: iterators need
    // 5.8, as the ring buffer does. The iter strategy's first pass is its snapshot.
    if (strategy.name !== 'iter') obj.program('procstat_snapshot').setAutoload(true);
  },
  start(loaded: LoadedProbe, ctx: ProbeContext<ProcstatConfig>, emitRaw): ProbeSource {
    const emit = withContainers(emitRaw);
    const cpus = nrPossibleCpus();
    if (cpus > 1024) ctx.log.warn(`procstat: ${cpus} possible CPUs; per-CPU RSS deltas are summed over the first 1024 only`);
    if (loaded.strategy.name === 'iter') {
      const source = new IteratorSource(loaded.obj, ctx.interval * 1000, ctx.kernel, ctx.log, emit);
      source.poll(Date.now()); // every process now, not one interval from now
      if (source.passes === 0) {
        source.stop();
        throw new Error('the task iterator cannot run');
      }
      return source;
    }
    const source = new RingBufferSource(loaded.obj, 'events', (buf) => emit(decodeProcstat(buf, ctx.kernel)), ctx.log, 'procstat');
    // Processes that sleep throughout never switch: one pass over all tasks reports them now.
    try {
      for (const rec of decodeSnapshot(readIterator(loaded.obj.program('procstat_snapshot').fd, 'procstat_snapshot'), ctx.kernel)) emit(rec);
    } catch (err) {
      ctx.log.warn(`procstat: no start-up snapshot (${(err as Error).message}): sleeping processes appear when they next run`);
    }
    return source;
  },
};
