// What the dynamic linker reads from an object to bind a symbol: whether the program asks for an
// interpreter (dynamic) or not (static), the libraries it needs (DT_NEEDED), and the functions it
// defines. Synchronous and bounded: the files are the target's, so possibly hostile, and few
// (a process's objects), read once at attach.
import { closeSync, openSync, readSync } from 'node:fs';

const PT_INTERP = 3;
const SHT_SYMTAB = 2;
const SHT_DYNAMIC = 6;
const SHT_DYNSYM = 11;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
const SHN_UNDEF = 0;

const MAX_HEADERS = 65536;
const MAX_TABLE_BYTES = 256 << 20;

export interface ElfObject {
  /** PT_INTERP: the dynamic linker a program asks for; absent in a static program and a library. */
  interp?: string;
  /** DT_NEEDED, in order. */
  needed: string[];
  /** Function name -> address, for the names asked for, when the object defines them. */
  defines: Map<string, bigint>;
}

class File {
  readonly fd: number;
  constructor(fd: number) {
    this.fd = fd;
  }
  read(position: bigint, length: number): Buffer {
    if (length < 0 || length > MAX_TABLE_BYTES) throw new Error(`bad ELF file (${length} bytes at ${position})`);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, position + BigInt(done));
      if (n === 0) throw new Error(`truncated ELF file (short read at ${position})`);
      done += n;
    }
    return buf;
  }
}

interface Section {
  type: number;
  offset: bigint;
  size: bigint;
  link: number;
}

function cstring(buf: Buffer, off: number): string {
  if (off >= buf.length) return '';
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end < 0 ? buf.length : end);
}

/**
 * Reads `path` (64-bit little-endian ELF: x86-64, arm64). `names`: the functions whose
 * definitions matter; `symtab`: also look in .symtab (a static program's own functions are
 * there, not in .dynsym). Throws on anything that is not such an ELF file.
 */
export function readElfObject(path: string, names: ReadonlySet<string>, symtab = false): ElfObject {
  try {
    return read(path, names, symtab);
  } catch (err) {
    const msg = (err as Error).message;
    throw new Error(msg.startsWith(path) ? msg : `${path}: ${msg}`);
  }
}

function read(path: string, names: ReadonlySet<string>, symtab: boolean): ElfObject {
  const fd = openSync(path, 'r');
  try {
    const f = new File(fd);
    const h = Buffer.alloc(64);
    const got = readSync(fd, h, 0, 64, 0);
    if (got < 4 || h.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`);
    if (got < 64) throw new Error(`${path}: truncated ELF file`);
    if (h[4] !== 2 || h[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF file`);
    const phoff = h.readBigUInt64LE(32);
    const shoff = h.readBigUInt64LE(40);
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const shentsize = h.readUInt16LE(58);
    const shnum = h.readUInt16LE(60);
    if (phnum > MAX_HEADERS || shnum > MAX_HEADERS || (phnum > 0 && phentsize < 56) || (shnum > 0 && shentsize < 64)) {
      throw new Error(`${path}: bad ELF header`);
    }
    const out: ElfObject = { needed: [], defines: new Map() };
    if (phnum > 0) {
      const ph = f.read(phoff, phnum * phentsize);
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        if (ph.readUInt32LE(o) !== PT_INTERP) continue;
        const size = Number(ph.readBigUInt64LE(o + 32));
        out.interp = cstring(f.read(ph.readBigUInt64LE(o + 8), Math.min(size, 4096)), 0);
      }
    }
    if (shnum === 0 || shoff === 0n) return out;
    const sh = f.read(shoff, shnum * shentsize);
    const sections: Section[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = i * shentsize;
      sections.push({ type: sh.readUInt32LE(o + 4), offset: sh.readBigUInt64LE(o + 24), size: sh.readBigUInt64LE(o + 32), link: sh.readUInt32LE(o + 40) });
    }
    const withStrings = (s: Section): [Buffer, Buffer] | undefined => {
      const strtab = sections[s.link];
      if (!strtab || s.size > BigInt(MAX_TABLE_BYTES) || strtab.size > BigInt(MAX_TABLE_BYTES)) return undefined;
      return [f.read(s.offset, Number(s.size)), f.read(strtab.offset, Number(strtab.size))];
    };
    for (const s of sections.filter((x) => x.type === SHT_DYNAMIC)) {
      const t = withStrings(s);
      if (!t) continue;
      const [dyn, str] = t;
      for (let o = 0; o + 16 <= dyn.length; o += 16) {
        const tag = dyn.readBigInt64LE(o);
        if (tag === DT_NULL) break;
        if (tag === DT_NEEDED) out.needed.push(cstring(str, Number(dyn.readBigUInt64LE(o + 8))));
      }
    }
    const tables = sections.filter((x) => x.type === SHT_DYNSYM || (symtab && x.type === SHT_SYMTAB));
    for (const s of tables) {
      const t = withStrings(s);
      if (!t) continue;
      const [syms, str] = t;
      for (let o = 0; o + 24 <= syms.length; o += 24) {
        const info = syms[o + 4]!;
        const type = info & 0xf;
        const bind = info >> 4;
        if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || (bind !== STB_GLOBAL && bind !== STB_WEAK)) continue;
        if (syms.readUInt16LE(o + 6) === SHN_UNDEF) continue;
        const name = cstring(str, syms.readUInt32LE(o));
        if (names.has(name) && !out.defines.has(name)) out.defines.set(name, syms.readBigUInt64LE(o + 8));
      }
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
