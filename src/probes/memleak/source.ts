// The running memleak probe: watches its target processes (exit, exec), reports every interval,
// and stops the run after report_count reports or once every traced process has ended.
import type { BpfObject } from '../../libbpf/object.ts';
import { RingBuffer } from '../../libbpf/ringbuf.ts';
import { kernelSymbols, type KernelSymbols } from '../../host/kallsyms.ts';
import type { ProbeContext, ProbeSource } from '../../runtime/probe.ts';
import type { Frame } from '../../symbolize/frame.ts';
import { Symbolizer } from '../../symbolize/symbolizer.ts';
import { exitStatus, type HeldCommand } from './command.ts';
import type { MemleakConfig } from './config.ts';
import { decodeTraceEvent, TARGET_STATE, tgidKey, type MemleakTraceEvent } from './layout.ts';
import { writeProfile } from './profile.ts';
import {
  readStackTotals, resolveStacks, snapshotStacks, userResolver,
  type FrameResolver, type MemleakReport, type MemleakStats, type StackSnapshot,
} from './report.ts';
import type { Target } from './target.ts';
import { placementsByModule } from './allocator.ts';

/** The files hooks went in, but the program's own (a static program's frames are its own). */
function allocatorModules(t: Target): string[] {
  return [...new Set(t.attached.map((p) => p.file.path))].filter((m) => m !== t.plan.executable);
}
import { isStopped } from '../../host/proc.ts';
import type { MemleakUnwinder } from './unwind.ts';

export type MemleakRecord = MemleakReport | MemleakTraceEvent;

export interface MemleakRun {
  kernel: boolean;
  targets: Target[];
  command?: HeldCommand;
  /** User space: keeps the in-kernel unwinder's tables and ranges in step with the targets. */
  unwinder?: MemleakUnwinder;
  allocatorFunctions: string[];
}

/** Reports waiting for symbolization beyond which an interval's report is skipped. */
const MAX_BACKLOG = 2;

export class MemleakSource implements ProbeSource {
  readonly #obj: BpfObject;
  readonly #ctx: ProbeContext<MemleakConfig>;
  readonly #emit: (r: MemleakRecord) => void;
  readonly #run: MemleakRun;
  readonly #rb: RingBuffer | undefined;
  #symbolizer: Symbolizer | undefined;
  #ksyms: KernelSymbols | undefined;
  #received = 0;
  #decodeErrors = 0;
  #rounds = 0;
  #nextReportMs: number;
  #chain: Promise<void> = Promise.resolve();
  #backlog = 0;
  /** No more reports: report_count reached, every target ended, or stopped. */
  #finished = false;
  #stopRequested = false;

  constructor(obj: BpfObject, ctx: ProbeContext<MemleakConfig>, emit: (r: MemleakRecord) => void, run: MemleakRun) {
    this.#obj = obj;
    this.#ctx = ctx;
    this.#emit = emit;
    this.#run = run;
    this.#nextReportMs = Date.now() + ctx.interval * 1000;
    if (ctx.config.trace) {
      this.#rb = new RingBuffer(obj.map('events'), (buf) => {
        this.#emit(decodeTraceEvent(buf));
        this.#received++;
      }, (err) => {
        this.#decodeErrors++;
        if (this.#decodeErrors === 1) ctx.log.warn(`memleak: trace record dropped: ${(err as Error).message}`);
      });
    }
    run.command?.release();
    if (run.command) this.#watchYoung();
  }

  /**
   * A command just released starts, maps its libraries and may be done within one runtime
   * tick: until every target has been traced for a moment, watch it on a faster timer so its
   * maps are captured (to symbolize its stacks after it is gone).
   */
  #watchYoung(): void {
    const timer = setInterval(() => {
      const now = Date.now();
      if (this.#finished || !this.#run.targets.some((t) => t.state === 'armed' || t.young(now))) {
        clearInterval(timer);
        return;
      }
      this.#watchTargets();
      this.#refreshMaps(now);
    }, 10);
    timer.unref();
  }

  poll(nowMs: number): void {
    this.#rb?.consume();
    if (this.#finished) return;
    this.#watchTargets();
    this.#refreshMaps(nowMs);
    if (nowMs >= this.#nextReportMs) {
      this.#nextReportMs = nowMs + this.#ctx.interval * 1000;
      this.#round();
    }
  }

  /**
   * A command just exec'd is on hold (memleak.bpf.c `unwind_hold`): its first allocator call
   * stops it. Once stopped, everything it maps is there: load the unwind tables, lift the
   * hold, let it run.
   */
  #releaseHold(t: Target, nowMs: number): void {
    const hold = this.#obj.map('unwind_hold');
    const key = tgidKey(t.pid);
    if (!hold.lookup(key) || !isStopped(t.pid)) return;
    try {
      t.refreshMaps(nowMs, true);
      this.#run.unwinder?.sync(t.maps);
    } catch (err) {
      this.#ctx.log.warn(`memleak: unwind tables of pid ${t.pid} not loaded: ${(err as Error).message}`);
    } finally {
      hold.delete(key);
      try {
        process.kill(t.pid, 'SIGCONT');
      } catch { /* gone */ }
    }
  }

  #refreshMaps(nowMs: number): void {
    for (const t of this.#run.targets) {
      t.refreshMaps(nowMs);
      if (t.state !== 'traced') continue;
      if (this.#run.command?.pid === t.pid) this.#releaseHold(t, nowMs);
      try {
        this.#run.unwinder?.sync(t.maps);
      } catch (err) {
        this.#ctx.log.warn(`memleak: unwind tables of pid ${t.pid} not updated: ${(err as Error).message}`);
      }
    }
  }

  counters(): { received: number; dropped: number } {
    const s = this.#stats();
    return { received: this.#received, dropped: s.eventsDropped + s.allocsDropped + this.#decodeErrors };
  }

  stop(): void {
    this.#finished = true;
    if (this.#rb) {
      this.#rb.consume();
      this.#rb.close();
    }
    // A command stopped on hold (memleak_exec, enter) must not stay stopped.
    const command = this.#run.command;
    if (command && !command.done) {
      try {
        this.#obj.map('unwind_hold').delete(tgidKey(command.pid));
        process.kill(command.pid, 'SIGCONT');
      } catch { /* gone */ }
    }
    this.#run.command?.terminate();
    for (const t of this.#run.targets) void t.detach();
    // Reports still being symbolized finish (and are emitted) before the helper goes.
    void this.#chain.finally(() => this.#symbolizer?.close());
  }

  #state(pid: number): number | undefined {
    return this.#obj.map('targets').lookup(tgidKey(pid))?.readUInt32LE(0);
  }

  #watchTargets(): void {
    for (const t of this.#run.targets) {
      if (t.state === 'armed') {
        if (this.#state(t.pid) === TARGET_STATE.TRACE) {
          t.started();
          if (t.plan.placements.length > 0) this.#ctx.log.info(`memleak: tracing ${t.executable} (pid ${t.pid}) from its first instruction`);
          else this.#ctx.log.info(`memleak: ${t.executable} (pid ${t.pid}) started, with no allocator hooked (see above)`);
        } else if (this.#run.command?.done) {
          this.#end(t, 'exited');
        }
      } else if (t.state === 'traced') {
        if (this.#state(t.pid) === TARGET_STATE.EXECED) this.#end(t, 'exec');
        else if (!t.alive()) this.#end(t, 'exited');
      }
    }
  }

  /** Last report of a process that exited or exec'd, then its hooks and map entries go. */
  #end(t: Target, why: 'exited' | 'exec'): void {
    t.state = 'ended';
    t.ended = why;
    void t.detach();
    this.#run.unwinder?.remove(t.pid);
    this.#obj.map('unwind_hold').delete(tgidKey(t.pid));
    const snap = this.#snapshot(new Set([t.pid]));
    const last = this.#run.targets.every((x) => x.state === 'ended') && !this.#run.kernel;
    // No later report reads the last target's entries (the object's close frees them): a
    // purge walks the whole allocation map, 2.5 s of event loop key by key with a million
    // blocks outstanding (bench/scaling.ts), about a tenth of that in batches.
    if (last) this.#obj.map('targets').delete(tgidKey(t.pid));
    else this.#purge(t.pid);
    this.#ctx.log.info(`memleak: ${t.executable || 'process'} (pid ${t.pid}) ${why === 'exec' ? 'exec\'d another program' : 'exited'}: final report, uprobes detached`);
    this.#enqueue(this.#rounds + 1, snap, new Map([[t.pid, t]]));
    if (last) {
      this.#finished = true;
      if (this.#stopWhenTargetsEnd()) {
        // The agent ends as the command did, with its exit code (as strace and time do).
        const command = this.#run.command;
        const status = command && t.pid === command.pid && why === 'exited' ? command.exited.then(exitStatus) : undefined;
        this.#requestStop('memleak: every traced process has ended', status);
      }
    }
  }

  /** With other probes running, a traced process that ends does not end the run. */
  #stopWhenTargetsEnd(): boolean {
    return this.#run.command !== undefined || !this.#ctx.othersRunning;
  }

  #requestStop(reason: string, exitCode?: Promise<number>): void {
    if (this.#stopRequested) return;
    this.#stopRequested = true;
    void this.#chain.then(async () => {
      const code = await exitCode;
      this.#ctx.log.info(`${reason}${code === undefined ? '' : ` (the command's exit code: ${code})`}: stopping`);
      this.#ctx.requestStop?.(reason, code);
    });
  }

  #purge(pid: number): void {
    for (const name of ['allocs', 'stack_totals']) {
      const map = this.#obj.map(name);
      const keys: Buffer[] = [];
      map.forEachEntry((k) => {
        if (k.readUInt32LE(0) === pid) keys.push(Buffer.from(k));
      });
      map.deleteMany(keys);
    }
    this.#obj.map('targets').delete(tgidKey(pid));
  }

  #round(): void {
    if (this.#backlog >= MAX_BACKLOG) {
      this.#ctx.log.debug('memleak: previous reports still being symbolized; skipping this interval');
      return;
    }
    const traced = this.#run.targets.filter((t) => t.state === 'traced');
    const pids = new Set(traced.map((t) => t.pid));
    if (this.#run.kernel) pids.add(0);
    if (pids.size === 0) return;
    this.#rounds++;
    const snap = this.#snapshot(pids);
    this.#enqueue(this.#rounds, snap, new Map(traced.map((t) => [t.pid, t])));
    const limit = this.#ctx.config.report_count;
    if (limit > 0 && this.#rounds >= limit) {
      this.#finished = true;
      this.#requestStop(`memleak: ${limit} report${limit === 1 ? '' : 's'} done`);
    }
  }

  #snapshot(pids: ReadonlySet<number>): Map<number, StackSnapshot> {
    const c = this.#ctx.config;
    const minAge = c.combined_only ? 0 : c.min_age_ms;
    const totals = readStackTotals(this.#obj, pids, minAge, process.hrtime.bigint());
    const snaps = snapshotStacks(this.#obj, totals, c.top, c.pprof !== '');
    for (const pid of pids) {
      if (!snaps.has(pid)) snaps.set(pid, { tgid: pid, totals: { bytes: 0, allocations: 0, stacks: 0 }, stacks: [], topCount: 0 });
    }
    return snaps;
  }

  #enqueue(seq: number, snaps: Map<number, StackSnapshot>, targets: Map<number, Target>): void {
    const timeMs = Date.now();
    const stats = this.#stats();
    // Maps and names are taken now: the process may be gone by the time frames resolve.
    const jobs = [...snaps.values()].map((snap) => {
      const t = targets.get(snap.tgid);
      return { snap, t, maps: t?.maps, executable: t?.executable ?? 'kernel', commandLine: t?.commandLine ?? '', ended: t?.ended, container: t?.container ?? {} };
    });
    this.#backlog++;
    this.#chain = this.#chain.then(async () => {
      const reports: MemleakReport[] = [];
      for (const j of jobs) {
        const resolver = j.snap.tgid === 0 ? this.#kernelResolver() : userResolver((m, a, o) => this.#userSymbolizer().symbolize(m, a, o), j.maps);
        const stacks = await resolveStacks(j.snap, resolver);
        const c = this.#ctx.config;
        const report: MemleakReport = {
          kind: 'report',
          seq,
          timeMs,
          pid: j.snap.tgid,
          executable: j.executable,
          commandLine: j.commandLine.slice(0, c.command_line_max),
          kernel: j.snap.tgid === 0,
          minAgeMs: c.combined_only ? 0 : c.min_age_ms,
          totals: j.snap.totals,
          top: stacks.slice(0, j.snap.topCount),
          stats,
          allocatorModules: j.t ? allocatorModules(j.t) : [],
          allocatorFunctions: this.#run.allocatorFunctions,
          allocators: j.t ? placementsByModule(j.t.attached) : [],
          container: j.container,
        };
        if (j.ended) report.ended = j.ended;
        if (this.#run.unwinder) report.unwind = this.#run.unwinder.usage();
        if (c.pprof !== '') report.all = stacks;
        reports.push(report);
      }
      for (const r of reports) {
        this.#emit(r);
        this.#received++;
      }
      const path = this.#ctx.config.pprof;
      if (path !== '' && reports.length > 0) await writeProfile(path, reports);
    }).catch((err: unknown) => {
      this.#ctx.log.warn(`memleak: report failed: ${(err as Error).message}`);
    }).finally(() => {
      this.#backlog--;
    });
  }

  #userSymbolizer(): Symbolizer {
    this.#symbolizer ??= new Symbolizer({ log: this.#ctx.log });
    return this.#symbolizer;
  }

  #kernelResolver(): FrameResolver {
    this.#ksyms ??= kernelSymbols();
    const k = this.#ksyms;
    return async (ips) => ips.map((address): Frame => {
      const sym = k.resolve(address);
      const module = `[${sym?.module ?? 'kernel'}]`;
      return sym ? { address, module, function: sym.name, offset: sym.offset, moduleStart: address - sym.offset } : { address, module };
    });
  }

  #stats(): MemleakStats {
    const g = (name: string) => {
      try {
        return Number(this.#obj.readGlobal('.bss', name));
      } catch {
        return 0;
      }
    };
    return {
      stackCollisions: g('stack_collisions'),
      stackFailures: g('stack_failures'),
      stackTruncated: g('stack_truncated'),
      allocsDropped: g('allocs_dropped'),
      addrReused: g('addr_reused'),
      eventsDropped: g('events_dropped'),
    };
  }
}
