// User-space symbolization: raw addresses of one process + a snapshot of its maps -> frames.
// Addresses become module-relative ELF virtual addresses here; llvm-symbolizer (a long-running
// helper) turns those into function, file:line and inlined frames; an in-process ELF symbol
// table reader stands in when it is missing or fails. See README.md in this folder for why.
import { silentLogger, type Logger } from '../log.ts';
import { fileOffsetToVaddr } from './elf.ts';
import type { Frame } from './frame.ts';
import { LlvmSymbolizerProcess, findLlvmSymbolizer, type LlvmAnswer } from './llvm.ts';
import { Lru } from './lru.ts';
import { findMapping, isFileMapping, moduleName, type Mapping, type ProcessMaps } from '../host/maps.ts';
import { moduleSymbols, openMappedFile, type OpenModule } from './module.ts';

export interface SymbolizerOptions {
  /** Path of llvm-symbolizer; found on PATH or in /usr/lib/llvm-N/bin when not given. A path that does not run selects the ELF-only fallback. */
  llvmSymbolizer?: string;
  log?: Logger;
  /** Resolved (module, address) pairs kept; default 100,000. */
  cacheSize?: number;
  /**
   * Longest wait for one batch from llvm-symbolizer, of modules it has loaded already, before it
   * is killed and the batch asked once more of a fresh helper; default 10 s.
   */
  timeoutMs?: number;
  /**
   * Longest wait for a batch naming a module the helper has not loaded (its own start and reading
   * the module's debug info: seconds on a large binary, tens of seconds under emulation); default 60 s.
   */
  loadTimeoutMs?: number;
  /** Modules kept open (and parsed by the helper) before both are recycled; default 256. */
  maxOpenModules?: number;
}

export interface SymbolizeOptions {
  /**
   * The addresses are a stack as bpf_get_stack returns it: [0] is the instruction pointer, the
   * rest are return addresses, looked up at address - 1 so that file:line names the call, not
   * the line after it (Frame.address and offset stay the raw values). Default false.
   */
  stack?: boolean;
}

export interface SymbolizerStats {
  cacheHits: number;
  cacheMisses: number;
  /** Batches answered by llvm-symbolizer, and those that fell back to ELF symbols after it failed. */
  llvmBatches: number;
  fallbackBatches: number;
  helperStarts: number;
  openModules: number;
}

/** What is known about one address of one module, independent of where it was mapped. */
interface Resolved {
  function?: string;
  start?: bigint;
  file?: string;
  line?: number;
  column?: number;
  inlined?: Array<Pick<Frame, 'function' | 'file' | 'line' | 'column'>>;
}

interface Lookup {
  mod: OpenModule;
  vaddr: bigint;
  cacheKey: string;
  frames: Array<{ frame: Frame; vaddr: bigint }>;
}

const BATCH = 1000;

export class Symbolizer {
  private readonly log: Logger;
  private readonly cache: Lru<string, Resolved>;
  private readonly llvm: LlvmSymbolizerProcess | undefined;
  private readonly maxOpenModules: number;
  /** By the kernel's identity of the mapped file (dev:inode from maps), shared across processes. */
  private readonly modules = new Map<string, OpenModule>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly counts = { cacheHits: 0, cacheMisses: 0, llvmBatches: 0, fallbackBatches: 0 };

  constructor(opts: SymbolizerOptions = {}) {
    this.log = opts.log ?? silentLogger;
    this.cache = new Lru(opts.cacheSize ?? 100_000);
    this.maxOpenModules = opts.maxOpenModules ?? 256;
    const path = opts.llvmSymbolizer ?? findLlvmSymbolizer();
    if (path === undefined) this.log.warn('symbolizer: llvm-symbolizer not found (Debian package llvm); using ELF symbol tables only (function names, no file:line)');
    const timeouts = { timeoutMs: opts.timeoutMs ?? 10_000, loadTimeoutMs: opts.loadTimeoutMs ?? 60_000 };
    this.llvm = path === undefined ? undefined : new LlvmSymbolizerProcess(path, this.log, timeouts);
  }

  /** Whether file:line information can be had (llvm-symbolizer found and not failed to start). */
  get hasLineInfo(): boolean {
    return this.llvm?.usable ?? false;
  }

  get stats(): SymbolizerStats {
    return { ...this.counts, helperStarts: this.llvm?.starts ?? 0, openModules: this.modules.size };
  }

  /**
   * Symbolizes addresses of one process using a maps snapshot (works after the process exited,
   * as long as its files can still be found and proven to be the mapped ones). One frame per
   * address, in order; what cannot be resolved keeps the module (and module address) or only the
   * raw address. Calls are serialized; never rejects for a bad address or an unreadable module.
   * Records each module's build-id on the snapshot's mappings (Mapping.buildId).
   */
  symbolize(maps: ProcessMaps, addresses: readonly bigint[], opts: SymbolizeOptions = {}): Promise<Frame[]> {
    const run = this.queue.then(() => this.run(maps, addresses, opts.stack ?? false));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Starts llvm-symbolizer now rather than at the first batch (see LlvmSymbolizerProcess.prestart). */
  prestart(): void {
    if (this.llvm?.usable) this.llvm.prestart();
  }

  /** Ends the helper process and closes the modules; a later symbolize() starts afresh (the cache is kept). */
  close(): void {
    this.llvm?.close();
    for (const m of this.modules.values()) void m.fh.close().catch(() => {});
    this.modules.clear();
  }

  private async run(maps: ProcessMaps, addresses: readonly bigint[], stack: boolean): Promise<Frame[]> {
    if (this.modules.size >= this.maxOpenModules) {
      // llvm-symbolizer 14 never forgets a parsed object, and its paths name our descriptors:
      // recycle both together, between runs, so that a reused descriptor number never meets a
      // stale object (one run may go over the bound: a process can map more modules than that).
      this.log.debug(`symbolizer: ${this.modules.size} modules open, recycling them and the helper`);
      this.close();
    }
    const frames: Frame[] = addresses.map((address) => ({ address }));
    const failed = new Set<string>();
    const pending = new Map<string, Lookup>();
    for (let i = 0; i < addresses.length; i++) {
      const frame = frames[i]!;
      const m = findMapping(maps, frame.address);
      if (!m) continue;
      frame.module = moduleName(m);
      if (!isFileMapping(m)) continue;
      const mod = await this.module(maps, m, failed);
      if (!mod) continue;
      const vaddr = fileOffsetToVaddr(mod.elf, frame.address - m.start + m.offset);
      if (vaddr === undefined) continue;
      frame.moduleAddress = vaddr;
      const lookup = stack && i > 0 && vaddr > 0n ? vaddr - 1n : vaddr;
      const cacheKey = `${mod.key}@${lookup.toString(16)}`;
      const hit = this.cache.get(cacheKey);
      if (hit) {
        this.counts.cacheHits++;
        apply(frame, hit, vaddr);
        continue;
      }
      let p = pending.get(cacheKey);
      if (!p) pending.set(cacheKey, (p = { mod, vaddr: lookup, cacheKey, frames: [] }));
      p.frames.push({ frame, vaddr });
    }
    const lookups = [...pending.values()];
    this.counts.cacheMisses += lookups.length;
    for (let i = 0; i < lookups.length; i += BATCH) await this.resolve(lookups.slice(i, i + BATCH));
    return frames;
  }

  private async resolve(batch: Lookup[]): Promise<void> {
    let answers: LlvmAnswer[] | undefined;
    if (this.llvm?.usable) {
      answers = await this.llvm.request(batch.map((l) => ({ module: l.mod.fdPath, address: l.vaddr })));
      if (answers) this.counts.llvmBatches++;
      else this.counts.fallbackBatches++;
    }
    // Results of a helper that failed this time are not cached: the next try may do better.
    const cacheable = answers !== undefined || !this.llvm?.usable;
    for (let i = 0; i < batch.length; i++) {
      const l = batch[i]!;
      const answer = answers?.[i];
      const r = answer ? fromLlvm(answer) : {};
      if (answer === undefined || (r.start === undefined && (r.function !== undefined || r.file !== undefined || !l.mod.elf.hasSymtab))) {
        // No helper answer, or one from DWARF without the symbol's start (functions with
        // DW_AT_ranges) or without a function (assembly with line info only), or a stripped
        // module (its debug file's .symtab names local functions the helper does not look at):
        // the ELF symbol tables have both. In an unstripped module where the helper found
        // nothing, it has looked in the same tables already.
        const sym = (await moduleSymbols(l.mod))?.lookup(l.vaddr);
        if (sym) {
          r.function ??= sym.name;
          r.start ??= sym.start;
        }
      }
      if (cacheable) this.cache.set(l.cacheKey, r);
      for (const { frame, vaddr } of l.frames) apply(frame, r, vaddr);
    }
  }

  private async module(maps: ProcessMaps, m: Mapping, failed: Set<string>): Promise<OpenModule | undefined> {
    const id = `${m.devMajor}:${m.devMinor}:${m.inode}`;
    const known = this.modules.get(id);
    if (known) {
      if (m.buildId === undefined) recordBuildId(maps, m, known.elf.buildId);
      return known;
    }
    if (failed.has(id)) return undefined;
    const opened = await openMappedFile(maps.pid, m);
    if ('error' in opened) {
      failed.add(id);
      this.log.debug(`symbolizer: cannot read ${m.path} of pid ${maps.pid} (${opened.error}); its frames keep module and address only`);
      return undefined;
    }
    const mod: OpenModule = { fh: opened.fh, fdPath: `/proc/${process.pid}/fd/${opened.fh.fd}`, key: opened.key, elf: opened.elf, via: opened.via };
    this.modules.set(id, mod);
    recordBuildId(maps, m, mod.elf.buildId);
    this.log.debug(`symbolizer: opened ${m.path} of pid ${maps.pid} via ${opened.via} (${mod.elf.buildId ? 'build-id ' + mod.elf.buildId : 'no build-id'})`);
    return mod;
  }
}

/** On every mapping of the same file in the snapshot (pprof names each mapping's build). */
function recordBuildId(maps: ProcessMaps, m: Mapping, buildId: string | undefined): void {
  if (buildId === undefined) return;
  for (const x of maps.mappings) if (x.inode === m.inode && x.devMajor === m.devMajor && x.devMinor === m.devMinor) x.buildId = buildId;
}

const hexOf = (s: string | undefined) => (s !== undefined && /^0x[0-9a-f]+$/i.test(s) ? BigInt(s) : undefined);
const named = (s: string | undefined) => (s === undefined || s === '' || s === '??' ? undefined : s);
const positive = (n: number | undefined) => (n === undefined || n <= 0 ? undefined : n);

/** llvm-symbolizer lists the innermost inlined function first and the real function last. */
function fromLlvm(a: LlvmAnswer): Resolved {
  const syms = a.Symbol ?? [];
  const outer = syms[syms.length - 1];
  if (a.Error || !outer) return {};
  const loc = (s: (typeof syms)[number]) => {
    const file = named(s.FileName);
    const line = file === undefined ? undefined : positive(s.Line);
    const column = line === undefined ? undefined : positive(s.Column);
    return { ...(file === undefined ? {} : { file }), ...(line === undefined ? {} : { line }), ...(column === undefined ? {} : { column }) };
  };
  const r: Resolved = { ...loc(outer) };
  const fn = named(outer.FunctionName);
  const start = hexOf(outer.StartAddress);
  if (fn !== undefined) r.function = fn;
  if (start !== undefined && fn !== undefined) r.start = start;
  if (syms.length > 1) {
    r.inlined = syms.slice(0, -1).map((s) => {
      const f = named(s.FunctionName);
      return { ...(f === undefined ? {} : { function: f }), ...loc(s) };
    });
  }
  return r;
}

function apply(frame: Frame, r: Resolved, vaddr: bigint): void {
  if (r.function !== undefined) frame.function = r.function;
  if (r.start !== undefined) {
    frame.moduleStart = r.start;
    if (vaddr >= r.start) frame.offset = vaddr - r.start;
  }
  if (r.file !== undefined) frame.file = r.file;
  if (r.line !== undefined) frame.line = r.line;
  if (r.column !== undefined) frame.column = r.column;
  if (r.inlined) {
    frame.inlined = r.inlined.map((i) => ({ address: frame.address, ...(frame.module === undefined ? {} : { module: frame.module }), ...i }));
  }
}
