// The running growth probe: loads the unwind tables of each process as it first grows (within
// a poll, 200 ms), and once per interval diffs the kernel's counters into a GrowthReport.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { BpfObject } from '../../libbpf/object.ts';
import { readContainerOf } from '../../host/container.ts';
import { readProcessMaps, type ProcessMaps } from '../../host/maps.ts';
import { processComm } from '../../host/proc.ts';
import type { ProbeContext, ProbeSource } from '../../runtime/probe.ts';
import type { Frame } from '../../symbolize/frame.ts';
import { writePprof } from '../../symbolize/pprof.ts';
import { Symbolizer } from '../../symbolize/symbolizer.ts';
import { decodeUnwindStack, ProcessUnwinder } from '../../unwind/process.ts';
import type { GrowthConfig } from './config.ts';
import { decodeGrowth, decodeProc, STACK_LOST, tgidKey, type ProcCounters } from './layout.ts';
import { GrowthDiff, stackIdOf, SuspectTracker, type GrowthReport, type GrowthStack, type ProcessGrowth } from './report.ts';

export type GrowthRecord = GrowthReport;

/** Reports waiting for symbolization beyond which an interval's report is skipped. */
const MAX_BACKLOG = 2;

function rssBytes(pid: number, pageSize: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * pageSize;
  } catch {
    return undefined;
  }
}

export class GrowthSource implements ProbeSource {
  readonly #obj: BpfObject;
  readonly #ctx: ProbeContext<GrowthConfig>;
  readonly #emit: (r: GrowthRecord) => void;
  readonly #unwinder: ProcessUnwinder;
  readonly #diff = new GrowthDiff();
  readonly #suspects: SuspectTracker;
  readonly #prevProcs = new Map<number, ProcCounters>();
  /** Processes whose maps could not be read (gone, or a kernel thread): not retried until purged. */
  readonly #unreadable = new Set<number>();
  #symbolizer: Symbolizer | undefined;
  #nextMs: number;
  #lastMs: number;
  #seq = 0;
  #received = 0;
  #chain: Promise<void> = Promise.resolve();
  #backlog = 0;
  /** --growth-pprof: every stack reported so far, by process and stack, with its latest total. */
  readonly #profile = new Map<string, { frames: Frame[]; bytes: number; allocations: number; labels: { pid: number; executable: string } }>();

  constructor(obj: BpfObject, ctx: ProbeContext<GrowthConfig>, emit: (r: GrowthRecord) => void) {
    this.#obj = obj;
    this.#ctx = ctx;
    this.#emit = emit;
    this.#unwinder = new ProcessUnwinder(obj, ctx.log, 'growth', 'probes.growth.unwind_table_max_bytes');
    this.#suspects = new SuspectTracker(ctx.config.suspect_intervals);
    this.#syncExisting();
    // Its first report waits for the helper: under emulation its start alone takes many seconds.
    this.#userSymbolizer().prestart();
    this.#lastMs = Date.now();
    this.#nextMs = this.#lastMs + ctx.interval * 1000;
  }

  /**
   * Every process there already gets its tables now: one idle until a burst (a server
   * filling up) would otherwise make its whole burst before its tables are in, each stack cut
   * at its first frame. Tables are per file, so a host costs its distinct objects once.
   */
  #syncExisting(): void {
    const c = this.#ctx.config;
    const pids = new Set(c.pids);
    const comms = new Set(c.comms.map((n) => n.slice(0, 15)));
    const t0 = Date.now();
    let n = 0;
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      if (pids.size + comms.size > 0 && !pids.has(pid) && !comms.has(processComm(pid) ?? '')) continue;
      if (this.#sync(pid)) n++;
    }
    this.#ctx.log.info(`growth: unwind tables of ${n} processes loaded in ${Date.now() - t0} ms`);
  }

  poll(nowMs: number): void {
    this.#syncNew();
    if (nowMs < this.#nextMs) return;
    this.#nextMs = nowMs + this.#ctx.interval * 1000;
    this.#round(nowMs);
  }

  counters(): { received: number; dropped: number } {
    let dropped = 0;
    for (const p of this.#prevProcs.values()) dropped += p.dropped;
    return { received: this.#received, dropped };
  }

  stop(): void {
    void this.#chain.finally(() => this.#symbolizer?.close());
  }

  /** A process seen growing for the first time gets its unwind tables now: its stacks until then end at its first frame. */
  #syncNew(): void {
    this.#obj.map('procs').forEachEntry((k) => {
      const pid = k.readUInt32LE(0);
      if (this.#unwinder.has(pid) || this.#unreadable.has(pid)) return;
      this.#sync(pid);
    });
  }

  #sync(pid: number): ProcessMaps | undefined {
    // Our own process: Node's binary alone is half a million rows, a second to parse.
    if (pid === process.pid) {
      this.#unreadable.add(pid);
      return undefined;
    }
    try {
      const maps = readProcessMaps(pid);
      if (maps.mappings.length === 0) throw new Error('no user memory (a kernel thread)');
      this.#unwinder.sync(maps);
      return maps;
    } catch (err) {
      this.#unreadable.add(pid);
      this.#ctx.log.debug(`growth: pid ${pid}: maps not read: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Everything of processes that ended, in one pass over the growth map. */
  #purge(pids: ReadonlySet<number>): void {
    if (pids.size === 0) return;
    const growth = this.#obj.map('growth');
    const keys: Buffer[] = [];
    growth.forEachEntry((k) => {
      if (pids.has(k.readUInt32LE(0))) keys.push(Buffer.from(k));
    });
    growth.deleteMany(keys);
    this.#obj.map('procs').deleteMany([...pids].map(tgidKey));
    for (const pid of pids) {
      this.#unwinder.remove(pid);
      this.#suspects.forget(pid);
      this.#diff.forget(pid);
      this.#prevProcs.delete(pid);
      this.#unreadable.delete(pid);
    }
  }

  #round(nowMs: number): void {
    const c = this.#ctx.config;
    const pageSize = this.#ctx.kernel.pageSize;
    const intervalMs = nowMs - this.#lastMs;
    this.#lastMs = nowMs;
    const deltas = this.#diff.step(this.#obj.map('growth').entries().map(([k, v]) => decodeGrowth(k, v)));
    const procs = new Map<number, ProcCounters>();
    for (const [k, v] of this.#obj.map('procs').entries()) {
      const p = decodeProc(k, v);
      procs.set(p.tgid, p);
    }
    const byPid = new Map<number, typeof deltas>();
    for (const d of deltas) {
      let l = byPid.get(d.tgid);
      if (!l) byPid.set(d.tgid, (l = []));
      l.push(d);
    }
    const out: ProcessGrowth[] = [];
    // Processes gone since: their entries leave the kernel's maps, their series the exporters.
    const ended: number[] = [];
    for (const pid of procs.keys()) if (!byPid.has(pid) && !existsSync(`/proc/${pid}`)) ended.push(pid);
    const pids = new Set([...byPid.keys(), ...this.#suspects.pids()]);
    for (const pid of pids) {
      const rss = rssBytes(pid, pageSize);
      if (rss === undefined) {
        ended.push(pid);
        continue;
      }
      const list = (byPid.get(pid) ?? []).map((d) => ({ d, bytes: d.faulted }));
      list.sort((a, b) => b.bytes - a.bytes || b.d.mapped - a.d.mapped || a.d.stackId - b.d.stackId);
      const lead = list[0] ? stackIdOf(list[0].d.stackId) : undefined;
      const { trend, suspect } = this.#suspects.observe(pid, rss, lead);
      if (list.length === 0) continue;
      const p = procs.get(pid);
      const prev = this.#prevProcs.get(pid);
      const top: GrowthStack[] = list.slice(0, c.top).map(({ d, bytes }) => ({
        stackId: stackIdOf(d.stackId),
        bytes,
        mapped: d.mapped,
        faulted: d.faulted,
        events: d.events,
        totalBytes: this.#diff.total(pid, d.stackId),
        frames: [],
        ...(d.truncated > 0 ? { truncated: true } : {}),
      }));
      out.push({
        pid,
        executable: processComm(pid) ?? '',
        container: readContainerOf(pid),
        bytes: list.reduce((s, x) => s + x.bytes, 0),
        totalBytes: 0,
        mapped: list.reduce((s, x) => s + x.d.mapped, 0),
        unmapped: (p?.unmapped ?? 0) - (prev?.unmapped ?? 0),
        rssTrend: trend,
        top,
        suspect,
      });
    }
    this.#purge(new Set(ended));
    for (const pid of ended) procs.delete(pid);
    for (const [pid, p] of procs) this.#prevProcs.set(pid, p);
    for (const p of out) p.totalBytes = this.#diff.processTotal(p.pid);
    this.#retire();
    out.sort((a, b) => Number(b.suspect) - Number(a.suspect) || b.bytes - a.bytes || a.pid - b.pid);
    // Symbolized: the processes shown and every suspect; each one's maps re-read now (a
    // library loaded since has its table from here on).
    const shown = out.filter((p, i) => i < c.top_processes || p.suspect);
    const jobs = shown.map((p) => ({ p, maps: this.#sync(p.pid), ips: p.top.map((s) => this.#stackIps(s)) }));
    for (const p of out) if (!shown.includes(p)) this.#sync(p.pid);
    const report: GrowthReport = { kind: 'growth', seq: ++this.#seq, timeMs: nowMs, intervalMs, processes: out, ended, faultSample: c.fault_sample, symbolized: true };
    if (this.#backlog >= MAX_BACKLOG) {
      this.#ctx.log.debug('growth: previous reports still being symbolized; this interval goes out unsymbolized');
      jobs.length = 0;
      report.symbolized = false;
    }
    this.#backlog++;
    this.#chain = this.#chain.then(async () => {
      for (const j of jobs) {
        if (!j.maps) continue;
        const unique = [...new Set(j.ips.flat())];
        if (unique.length === 0) continue;
        // Every address is a return address (a fault's pc was passed one past), so all go
        // through the symbolizer's stack path: a placeholder takes [0]'s place.
        const frames = await this.#userSymbolizer().symbolize(j.maps, [0n, ...unique], { stack: true });
        const byAddr = new Map<bigint, Frame>();
        unique.forEach((a, i) => byAddr.set(a, frames[i + 1] ?? { address: a }));
        j.p.top.forEach((s, i) => { s.frames = j.ips[i]!.map((a) => byAddr.get(a) ?? { address: a }); });
      }
      this.#emit(report);
      this.#received++;
      if (c.pprof !== '') {
        for (const p of shown) {
          for (const s of p.top) {
            const key = `${p.pid}:${s.stackId}`;
            const old = this.#profile.get(key);
            this.#profile.set(key, { frames: s.frames.length > 0 ? s.frames : old?.frames ?? [], bytes: s.totalBytes, allocations: (old?.allocations ?? 0) + s.events, labels: { pid: p.pid, executable: p.executable } });
          }
        }
        await writePprof(c.pprof, [...this.#profile.values()], { comments: [`mem-watcher growth since the start, report ${report.seq}`] });
      }
    }).catch((err: unknown) => {
      this.#ctx.log.warn(`growth: report failed: ${(err as Error).message}`);
    }).finally(() => {
      this.#backlog--;
    });
  }

  /** Idle (process, stack) entries and their stacks leave the kernel's maps (see GrowthDiff.retire). */
  #retire(): void {
    const old = this.#diff.retire(this.#ctx.config.idle_intervals);
    if (old.length === 0) return;
    const key = (c: { tgid: number; stackId: number }) => {
      const k = Buffer.alloc(8);
      k.writeUInt32LE(c.tgid, 0);
      k.writeUInt32LE(c.stackId, 4);
      return k;
    };
    this.#obj.map('growth').deleteMany(old.map(key));
    // A stack id is a hash of the frames, which are one process's addresses: kept while
    // another entry still counts under it.
    const live = new Set<number>();
    this.#obj.map('growth').forEachEntry((k) => live.add(k.readUInt32LE(4)));
    const stacks = [...new Set(old.map((c) => c.stackId))].filter((id) => !live.has(id) && id !== STACK_LOST).map((id) => {
      const k = Buffer.alloc(4);
      k.writeUInt32LE(id);
      return k;
    });
    this.#obj.map('user_stacks').deleteMany(stacks);
  }

  #stackIps(s: GrowthStack): bigint[] {
    if (s.stackId < 0) return [];
    const key = Buffer.alloc(4);
    key.writeUInt32LE(s.stackId >>> 0);
    const v = this.#obj.map('user_stacks').lookup(key);
    if (!v) return [];
    const u = decodeUnwindStack(v);
    if (u.truncated) s.truncated = true;
    return u.ips;
  }

  #userSymbolizer(): Symbolizer {
    this.#symbolizer ??= new Symbolizer({ log: this.#ctx.log });
    return this.#symbolizer;
  }
}
