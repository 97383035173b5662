// The kernel's symbols, from /proc/kallsyms: one table per process, read once (in the
// background where it can be: ~0.7 s of parsing here), shared by the attach loop (kprobe
// targets by name) and every probe that reports kernel stacks (addresses to `function+0xoff [module]`).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface ResolvedSymbol {
  name: string;
  offset: bigint;
  module?: string;
}

const TEXT_TYPES = new Set(['t', 'T', 'w', 'W']);

export class KernelSymbols {
  readonly #addrs: BigUint64Array;
  readonly #names: string[];
  readonly #modules: Array<string | undefined>;
  /** Text symbols by name, addresses or not (kprobes attach by name). */
  readonly #functions: ReadonlySet<string>;
  /** Every address read as 0: kptr_restrict hides them from this reader (not root). */
  readonly restricted: boolean;

  private constructor(addrs: BigUint64Array, names: string[], modules: Array<string | undefined>, restricted: boolean, functions: ReadonlySet<string>) {
    this.#addrs = addrs;
    this.#names = names;
    this.#modules = modules;
    this.restricted = restricted;
    this.#functions = functions;
  }

  static load(path = '/proc/kallsyms'): KernelSymbols {
    return KernelSymbols.parse(readFileSync(path, 'utf8'));
  }

  /** Parses kallsyms text: `ffffffff81000000 T _stext` and `ffffffffc0a01000 t fn\t[module]`. */
  static parse(text: string): KernelSymbols {
    const addrs: bigint[] = [];
    const names: string[] = [];
    const modules: Array<string | undefined> = [];
    const functions = new Set<string>();
    let nonZero = false;
    let sorted = true;
    for (const line of text.split('\n')) {
      const sp1 = line.indexOf(' ');
      const sp2 = line.indexOf(' ', sp1 + 1);
      if (sp1 < 0 || sp2 < 0 || !TEXT_TYPES.has(line.slice(sp1 + 1, sp2))) continue;
      const rest = line.slice(sp2 + 1);
      const tab = rest.indexOf('\t');
      functions.add(tab < 0 ? rest : rest.slice(0, tab));
      const addr = BigInt('0x' + line.slice(0, sp1));
      if (addr === 0n) continue;
      nonZero = true;
      if (sorted && addrs.length > 0 && addr < addrs[addrs.length - 1]!) sorted = false;
      addrs.push(addr);
      if (tab < 0) {
        names.push(rest);
        modules.push(undefined);
      } else {
        names.push(rest.slice(0, tab));
        modules.push(rest.slice(tab + 1).trim().replace(/^\[|\]$/g, ''));
      }
    }
    if (sorted) return new KernelSymbols(BigUint64Array.from(addrs), names, modules, !nonZero && text.length > 0, functions);
    // Module symbols follow the core kernel's in kallsyms and are not in address order.
    const order = addrs.map((_, i) => i).sort((a, b) => (addrs[a]! < addrs[b]! ? -1 : addrs[a]! > addrs[b]! ? 1 : 0));
    return new KernelSymbols(
      BigUint64Array.from(order.map((i) => addrs[i]!)),
      order.map((i) => names[i]!),
      order.map((i) => modules[i]),
      false,
      functions,
    );
  }

  /** The symbol kprobes can use for a kernel function (static ones may be renamed: foo.isra.0). */
  functionNamed(name: string): string | undefined {
    if (this.#functions.has(name)) return name;
    for (const sym of this.#functions) if (sym.startsWith(name + '.')) return sym;
    return undefined;
  }

  get size(): number {
    return this.#addrs.length;
  }

  /** The symbol containing `addr` (the last one at or below it), or undefined below the first. */
  resolve(addr: bigint): ResolvedSymbol | undefined {
    const a = this.#addrs;
    let lo = 0;
    let hi = a.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! <= addr) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return undefined;
    const module = this.#modules[found];
    return { name: this.#names[found]!, offset: addr - a[found]!, ...(module ? { module } : {}) };
  }

  /** `function+0xoff [module]`, or the bare hex address when no symbol covers it. */
  format(addr: bigint): string {
    return formatFrame(addr, this.resolve(addr));
  }
}

export function formatFrame(addr: bigint, sym: ResolvedSymbol | undefined): string {
  if (!sym) return `0x${addr.toString(16)}`;
  return `${sym.name}+0x${sym.offset.toString(16)}${sym.module ? ` [${sym.module}]` : ''}`;
}

const EMPTY = KernelSymbols.parse('');
let table: KernelSymbols | undefined;
let loading: Promise<KernelSymbols> | undefined;
let readAt = 0;

function keep(t: KernelSymbols): KernelSymbols {
  table = t;
  readAt = Date.now();
  return t;
}

/** Reads /proc/kallsyms in the background (once; later calls share it). Never rejects: an unreadable file is an empty table. */
export function loadKernelSymbols(path = '/proc/kallsyms'): Promise<KernelSymbols> {
  if (table) return Promise.resolve(table);
  loading ??= readFile(path, 'utf8').then((text) => keep(KernelSymbols.parse(text)), () => keep(EMPTY));
  return loading;
}

/** The table now: the one loaded, else read at once (a caller that cannot wait). */
export function kernelSymbols(path = '/proc/kallsyms'): KernelSymbols {
  if (table) return table;
  try {
    return keep(KernelSymbols.parse(readFileSync(path, 'utf8')));
  } catch {
    return keep(EMPTY);
  }
}

/** Reads the table again, at most once a minute: for an address in a module loaded since. */
export function refreshKernelSymbols(path = '/proc/kallsyms'): KernelSymbols {
  if (table && Date.now() - readAt < 60_000) return table;
  table = undefined;
  loading = undefined;
  return kernelSymbols(path);
}
