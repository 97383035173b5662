// Kernel stack frames for --memleak-kernel: /proc/kallsyms read once, looked up by binary search.
import { readFileSync } from 'node:fs';
import type { Frame } from '../../symbolize/frame.ts';

interface KSym {
  addr: bigint;
  name: string;
  module: string;
}

export class KernelSymbols {
  readonly #syms: KSym[];

  constructor(text = readFileSync('/proc/kallsyms', 'utf8')) {
    const syms: KSym[] = [];
    for (const line of text.split('\n')) {
      const [addr, type, name, mod] = line.split(/\s+/);
      if (!addr || !name || !type || !/^[tTwW]$/.test(type)) continue;
      const a = BigInt('0x' + addr);
      if (a === 0n) continue; // kptr_restrict hides addresses: nothing to resolve with
      syms.push({ addr: a, name, module: mod ? mod.replace(/^\[|\]$/g, '') : 'vmlinux' });
    }
    syms.sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : 0));
    this.#syms = syms;
  }

  get size(): number {
    return this.#syms.length;
  }

  frame(address: bigint): Frame {
    const s = this.#syms;
    let lo = 0;
    let hi = s.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]!.addr <= address) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const sym = best >= 0 ? s[best] : undefined;
    if (!sym) return { address, module: '[kernel]' };
    return { address, module: `[${sym.module}]`, function: sym.name, moduleStart: sym.addr, offset: address - sym.addr };
  }
}
