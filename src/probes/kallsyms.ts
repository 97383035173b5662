// Kernel addresses to `function+0xoff [module]`, from /proc/kallsyms: text symbols in an
// address-sorted table, binary search for the last symbol at or below an address.
import { readFileSync } from 'node:fs';

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
  /** Every address read as 0: kptr_restrict hides them from this reader (not root). */
  readonly restricted: boolean;

  private constructor(addrs: BigUint64Array, names: string[], modules: Array<string | undefined>, restricted: boolean) {
    this.#addrs = addrs;
    this.#names = names;
    this.#modules = modules;
    this.restricted = restricted;
  }

  static load(path = '/proc/kallsyms'): KernelSymbols {
    return KernelSymbols.parse(readFileSync(path, 'utf8'));
  }

  /** Parses kallsyms text: `ffffffff81000000 T _stext` and `ffffffffc0a01000 t fn\t[module]`. */
  static parse(text: string): KernelSymbols {
    const addrs: bigint[] = [];
    const names: string[] = [];
    const modules: Array<string | undefined> = [];
    let nonZero = false;
    let sorted = true;
    for (const line of text.split('\n')) {
      const sp1 = line.indexOf(' ');
      const sp2 = line.indexOf(' ', sp1 + 1);
      if (sp1 < 0 || sp2 < 0 || !TEXT_TYPES.has(line.slice(sp1 + 1, sp2))) continue;
      const addr = BigInt('0x' + line.slice(0, sp1));
      if (addr === 0n) continue;
      nonZero = true;
      const rest = line.slice(sp2 + 1);
      const tab = rest.indexOf('\t');
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
    if (sorted) return new KernelSymbols(BigUint64Array.from(addrs), names, modules, !nonZero && text.length > 0);
    // Module symbols follow the core kernel's in kallsyms and are not in address order.
    const order = addrs.map((_, i) => i).sort((a, b) => (addrs[a]! < addrs[b]! ? -1 : addrs[a]! > addrs[b]! ? 1 : 0));
    return new KernelSymbols(
      BigUint64Array.from(order.map((i) => addrs[i]!)),
      order.map((i) => names[i]!),
      order.map((i) => modules[i]),
      false,
    );
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
