// The oom probe's source: kill records from the ring buffer, enriched once when they arrive
// (containers, the memcg's path, the top processes by RSS), held until the victim's memory is
// back (or a timeout) so that each kill is one record with its reap time; and, once per
// interval, the memory pressure readers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BpfObject } from '../../libbpf/object.ts';
import type { Logger } from '../../log.ts';
import { Cadence } from '../../runtime/cadence.ts';
import type { ProbeSource } from '../../runtime/probe.ts';
import { containerFromCgroupPath, readContainerOf, type ContainerInfo } from '../../host/container.ts';
import { RingBufferSource } from '../../runtime/ringbuf-source.ts';
import { allPids, cgroupPids, CgroupPathResolver, topByRss } from './cgroup.ts';
import { interpretKill, type KillContext } from './kill.ts';
import type { PressureReader } from './pressure.ts';
import { decodeOomEvent, REAP_PHASES, type OomKill, type OomRecord, type RawReapEvent, type ReapPhase } from './record.ts';

export interface OomSourceOptions {
  pageSize: number;
  memcgVersion: 1 | 2;
  /** Where memcg paths are resolved; undefined without a memory hierarchy mounted. */
  resolver?: CgroupPathResolver;
  gfpNames?(gfp: number): string;
  /** Pressure records once per this period (ms); undefined: none. */
  pressureIntervalMs?: number;
  pressure?: PressureReader;
  /** How long a kill waits for its victim's memory to come back before it is emitted without. */
  reapTimeoutMs: number;
  /** Which reap steps the attached hooks can see. */
  hooks: { exitMmap: boolean; exit: boolean; reaper: boolean };
}

interface Pending {
  record: OomKill;
  deadlineMs: number;
  steps: Map<ReapPhase, bigint>;
}

export class OomSource implements ProbeSource {
  readonly #rb: RingBufferSource;
  readonly #emit: (r: OomRecord) => void;
  readonly #opts: OomSourceOptions;
  readonly #kctx: KillContext;
  readonly #pending = new Map<number, Pending>();
  readonly #cadence: Cadence | undefined;
  readonly #log: Logger;

  constructor(obj: BpfObject, opts: OomSourceOptions, log: Logger, emit: (r: OomRecord) => void) {
    this.#opts = opts;
    this.#emit = emit;
    this.#log = log;
    this.#kctx = {
      pageSize: opts.pageSize,
      memcgVersion: opts.memcgVersion,
      resolvePath: (id) => opts.resolver?.resolve(id),
      ...(opts.gfpNames ? { gfpNames: opts.gfpNames } : {}),
    };
    this.#cadence = opts.pressure && opts.pressureIntervalMs ? new Cadence(opts.pressureIntervalMs) : undefined;
    this.#rb = new RingBufferSource(obj, 'events', (buf) => this.#onEvent(buf), log, 'oom');
  }

  #onEvent(buf: Buffer): void {
    const ev = decodeOomEvent(buf);
    if (ev.kind === 'reap') return this.#onReap(ev.raw);
    const rec = interpretKill(ev.raw, this.#kctx);
    this.#enrich(rec);
    const prev = this.#pending.get(rec.victim.tid);
    if (prev) this.#finish(rec.victim.tid, prev, 'the same pid was chosen again before its memory came back');
    this.#pending.set(rec.victim.tid, { record: rec, deadlineMs: Date.now() + this.#opts.reapTimeoutMs, steps: new Map() });
  }

  /** Once, when the kill arrives: the victim may be gone already, its cgroup usually is not. */
  #enrich(rec: OomKill): void {
    const fromPath = (p: string | undefined): ContainerInfo => (p === undefined ? {} : containerFromCgroupPath(p));
    const victimPath = rec.victimMemcg?.path;
    const v = readContainerOf(rec.victim.pid);
    rec.victim.container = v.containerId || v.podUid ? v : fromPath(victimPath);
    if (rec.trigger.pid === rec.victim.pid) rec.trigger.container = rec.victim.container;
    else rec.trigger.container = readContainerOf(rec.trigger.pid);
    if (!rec.victim.comm) rec.victim.comm = procComm(rec.victim.pid) ?? '';
    const root = this.#opts.resolver?.root;
    try {
      if (rec.topScope === 'memcg' && rec.memcg?.path !== undefined && root) rec.topProcesses = topByRss(cgroupPids(join(root, rec.memcg.path)), this.#opts.pageSize);
      else rec.topProcesses = topByRss(allPids(), this.#opts.pageSize);
    } catch (err) {
      this.#log.debug(`oom: top processes not read: ${(err as Error).message}`);
    }
  }

  #onReap(r: RawReapEvent): void {
    const p = this.#pending.get(r.victimPid);
    if (!p || p.record.tsNs !== r.killTsNs) return; // already emitted (timeout) or a kill we did not see
    const phase = REAP_PHASES[r.phase as keyof typeof REAP_PHASES];
    if (!p.steps.has(phase)) p.steps.set(phase, r.hdr.tsNs);
    const h = this.#opts.hooks;
    if (phase === 'exit_mmap' || (phase === 'exit' && !h.exitMmap)) this.#finish(r.victimPid, p);
  }

  #finish(pid: number, p: Pending, note?: string): void {
    this.#pending.delete(pid);
    const rec = p.record;
    const ms = (phase: ReapPhase) => {
      const ts = p.steps.get(phase);
      return ts === undefined ? undefined : Number(ts - rec.tsNs) / 1e6;
    };
    const steps = {
      wakeReaperMs: ms('wake_reaper'),
      startReapingMs: ms('start_task_reaping'),
      finishReapingMs: ms('finish_task_reaping'),
      skipReapingMs: ms('skip_task_reaping'),
      exitMmapMs: ms('exit_mmap'),
      exitMs: ms('exit'),
    };
    for (const [k, v] of Object.entries(steps)) if (v !== undefined) (rec.reap as Record<string, number>)[k] = v;
    const candidates: Array<[number | undefined, 'oom_reaper' | 'exit_mmap' | 'exit']> = [
      [steps.finishReapingMs, 'oom_reaper'],
      [steps.exitMmapMs, 'exit_mmap'],
      [this.#opts.hooks.exitMmap ? undefined : steps.exitMs, 'exit'],
    ];
    const first = candidates.filter((c): c is [number, 'oom_reaper' | 'exit_mmap' | 'exit'] => c[0] !== undefined).sort((a, b) => a[0] - b[0])[0];
    if (first) {
      rec.reap.reapMs = first[0];
      rec.reap.by = first[1];
    }
    const h = this.#opts.hooks;
    if (note) rec.reapNote = note;
    else if (!first) {
      rec.reapNote = !h.exitMmap && !h.exit && !h.reaper
        ? 'no reap hook attached on this kernel'
        : `the victim's memory was not seen coming back within ${this.#opts.reapTimeoutMs} ms${steps.skipReapingMs !== undefined ? ' (the reaper skipped it: mmap lock held)' : ''}`;
    }
    this.#emit(rec);
  }

  poll(nowMs: number): void {
    this.#rb.poll();
    const now = Date.now();
    for (const [pid, p] of this.#pending) if (now >= p.deadlineMs) this.#finish(pid, p);
    if (this.#cadence && this.#opts.pressure && this.#cadence.due(nowMs)) {
      try {
        this.#emit(this.#opts.pressure.read(now));
      } catch (err) {
        this.#log.warn(`oom: memory pressure not read: ${(err as Error).message}`);
      }
    }
  }

  counters(): { received: number; dropped: number } {
    return this.#rb.counters();
  }

  /** Final drain; kills still waiting for their reap go out as they are. */
  stop(): void {
    this.#rb.stop();
    for (const [pid, p] of this.#pending) this.#finish(pid, p, 'the probe stopped before the victim\'s memory came back');
  }
}

function procComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
