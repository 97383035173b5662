// The objects of a running process in the order the dynamic linker searches them for a symbol:
// the executable, then LD_PRELOAD objects, then the libraries it needs, breadth first (then
// what dlopen added). The dynamic linker keeps exactly that list for debuggers: `r_debug.r_map`,
// a chain of `struct link_map`, whose address it writes into the executable's DT_DEBUG entry.
// It is read here through /proc/PID/mem (ptrace access, which root has): the executable's
// program headers from AT_PHDR (/proc/PID/auxv), its PT_DYNAMIC, DT_DEBUG, then the chain.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

const AT_PHDR = 3n;
const AT_PHENT = 4n;
const AT_PHNUM = 5n;
const PT_DYNAMIC = 2;
const PT_PHDR = 6;
const DT_NULL = 0n;
const DT_DEBUG = 21n;
/** Far above any real process's object count: a corrupt or hostile chain ends here. */
const MAX_OBJECTS = 4096;
const MAX_DYNAMIC = 1024;

export interface LinkMapEntry {
  /** l_name: '' for the executable, else the path the dynamic linker opened (as the process sees it). */
  name: string;
  /** l_addr: the load bias (for a shared library, the address of its first byte). */
  base: bigint;
}

class Memory {
  readonly #fd: number;
  constructor(pid: number) {
    this.#fd = openSync(`/proc/${pid}/mem`, 'r');
  }
  read(addr: bigint, length: number): Buffer {
    const buf = Buffer.alloc(length);
    const n = readSync(this.#fd, buf, 0, length, addr);
    if (n !== length) throw new Error(`short read of ${length} bytes at 0x${addr.toString(16)}`);
    return buf;
  }
  u64(addr: bigint): bigint {
    return this.read(addr, 8).readBigUInt64LE(0);
  }
  string(addr: bigint, max = 4096): string {
    let out = '';
    for (let at = addr; out.length < max; at += 256n) {
      // A string near the end of a mapping: read what is there, byte by byte if need be.
      let chunk: Buffer;
      try {
        chunk = this.read(at, 256);
      } catch {
        chunk = this.read(at, 1);
      }
      const nul = chunk.indexOf(0);
      if (nul >= 0) return out + chunk.toString('latin1', 0, nul);
      out += chunk.toString('latin1');
    }
    return out.slice(0, max);
  }
  close(): void {
    closeSync(this.#fd);
  }
}

function auxv(pid: number): Map<bigint, bigint> {
  const buf = readFileSync(`/proc/${pid}/auxv`);
  const out = new Map<bigint, bigint>();
  for (let o = 0; o + 16 <= buf.length; o += 16) out.set(buf.readBigUInt64LE(o), buf.readBigUInt64LE(o + 8));
  return out;
}

/**
 * The process's link map, or undefined when it has none: a static program (no PT_DYNAMIC), or
 * one whose dynamic linker has not filled DT_DEBUG yet. Throws when /proc/PID/mem cannot be
 * read (gone, or not ours), or the process is not a 64-bit little-endian one.
 */
export function readLinkMap(pid: number): LinkMapEntry[] | undefined {
  const aux = auxv(pid);
  const phdr = aux.get(AT_PHDR);
  const phent = Number(aux.get(AT_PHENT) ?? 0n);
  const phnum = Number(aux.get(AT_PHNUM) ?? 0n);
  if (!phdr || phent < 56 || phnum === 0 || phnum > 65535) return undefined;
  const mem = new Memory(pid);
  try {
    const ph = mem.read(phdr, phent * phnum);
    let self: bigint | undefined;
    let dynamic: bigint | undefined;
    for (let i = 0; i < phnum; i++) {
      const o = i * phent;
      const type = ph.readUInt32LE(o);
      if (type === PT_PHDR) self = ph.readBigUInt64LE(o + 16);
      else if (type === PT_DYNAMIC) dynamic = ph.readBigUInt64LE(o + 16);
    }
    if (dynamic === undefined || self === undefined) return undefined;
    const bias = phdr - self;
    let rDebug = 0n;
    for (let i = 0, at = bias + dynamic; i < MAX_DYNAMIC; i++, at += 16n) {
      const e = mem.read(at, 16);
      const tag = e.readBigInt64LE(0);
      if (tag === DT_NULL) break;
      if (tag === DT_DEBUG) {
        rDebug = e.readBigUInt64LE(8);
        break;
      }
    }
    if (rDebug === 0n) return undefined;
    // struct r_debug { int r_version; struct link_map *r_map; ... }
    // struct link_map { l_addr; char *l_name; l_ld; l_next; l_prev; ... }
    const out: LinkMapEntry[] = [];
    const seen = new Set<bigint>();
    for (let l = mem.u64(rDebug + 8n); l !== 0n && out.length < MAX_OBJECTS && !seen.has(l); l = mem.u64(l + 24n)) {
      seen.add(l);
      const link = mem.read(l, 32);
      const namePtr = link.readBigUInt64LE(8);
      out.push({ base: link.readBigUInt64LE(0), name: namePtr === 0n ? '' : mem.string(namePtr) });
    }
    return out.length > 0 ? out : undefined;
  } finally {
    mem.close();
  }
}
