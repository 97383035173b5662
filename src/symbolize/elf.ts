// Just enough ELF to symbolize: the program headers (file offset -> virtual address), the GNU
// build-id, and function symbols from .symtab/.dynsym. The files are the target process's, so
// possibly hostile: every offset and size is checked, reads are bounded, nothing is trusted.
import type { FileHandle } from 'node:fs/promises';

const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const NT_GNU_BUILD_ID = 3;
const PN_XNUM = 0xffff;

/** Bounds for a hostile file: far above any real binary's. */
const MAX_HEADERS = 65536;
const MAX_NOTES_BYTES = 1 << 20;
const MAX_SYMTAB_BYTES = 512 << 20;

export class ElfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfError';
  }
}

export interface LoadSegment {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  executable: boolean;
}

export interface ElfInfo {
  is64: boolean;
  littleEndian: boolean;
  /** e_type: 2 executable, 3 shared object / PIE. */
  type: number;
  loads: LoadSegment[];
  buildId?: string;
  /** Has a .symtab (not stripped): then .dynsym and .symtab are all the symbols there are. */
  hasSymtab: boolean;
}

export interface ElfSymbol {
  name: string;
  start: bigint;
  size: bigint;
}

/**
 * Sorted function symbols of one module, searchable by virtual address. Kept as typed arrays
 * with names decoded on lookup: a C++ binary has 100k+ functions and most are never asked for.
 */
export class SymbolTable {
  private readonly starts: Float64Array;
  private readonly sizes: Float64Array;
  private readonly nameOffs: Uint32Array;
  private readonly tables: Uint8Array;
  private readonly strtabs: readonly Buffer[];

  constructor(starts: Float64Array, sizes: Float64Array, nameOffs: Uint32Array, tables: Uint8Array, strtabs: readonly Buffer[]) {
    this.starts = starts;
    this.sizes = sizes;
    this.nameOffs = nameOffs;
    this.tables = tables;
    this.strtabs = strtabs;
  }

  get size(): number {
    return this.starts.length;
  }

  /** The function containing `vaddr`: within its size, or (size 0) before the next symbol. */
  lookup(vaddr: bigint): ElfSymbol | undefined {
    const a = Number(vaddr);
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! <= a) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const start = s[found]!;
    const size = this.sizes[found]!;
    if (size > 0 ? a >= start + size : found + 1 < s.length && a >= s[found + 1]!) return undefined;
    const strtab = this.strtabs[this.tables[found]!]!;
    const off = this.nameOffs[found]!;
    const end = strtab.indexOf(0, off);
    return { name: strtab.toString('utf8', off, end < 0 ? strtab.length : end), start: BigInt(start), size: BigInt(size) };
  }
}

class Reader {
  readonly buf: Buffer;
  readonly le: boolean;
  constructor(buf: Buffer, le: boolean) {
    this.buf = buf;
    this.le = le;
  }
  u8(o: number): number {
    return this.buf.readUInt8(o);
  }
  u16(o: number): number {
    return this.le ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }
  u64(o: number): bigint {
    return this.le ? this.buf.readBigUInt64LE(o) : this.buf.readBigUInt64BE(o);
  }
  /** A u64 as a number; NaN above 2^53 (not a user-space address). */
  u64n(o: number): number {
    const lo = this.le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o + 4);
    const hi = this.le ? this.buf.readUInt32LE(o + 4) : this.buf.readUInt32BE(o);
    return hi >= 0x200000 ? NaN : hi * 0x100000000 + lo;
  }
  /** A word of the file's class. */
  word(o: number, is64: boolean): bigint {
    return is64 ? this.u64(o) : BigInt(this.u32(o));
  }
}

async function readAt(fh: FileHandle, position: bigint, length: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  if (position < 0n || position > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`offset ${position} out of range`);
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, Number(position));
  if (bytesRead !== length) throw new ElfError(`short read: ${bytesRead} of ${length} bytes at ${position}`);
  return buf;
}

interface Header {
  is64: boolean;
  le: boolean;
  type: number;
  phoff: bigint;
  phentsize: number;
  phnum: number;
  shoff: bigint;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

async function readHeader(fh: FileHandle): Promise<Header> {
  const id = await readAt(fh, 0n, 64).catch(() => {
    throw new ElfError('not an ELF file (too short)');
  });
  if (id.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file');
  const cls = id[4];
  const data = id[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) throw new ElfError(`unsupported ELF class ${cls} / data ${data}`);
  const is64 = cls === 2;
  const r = new Reader(id, data === 1);
  const h: Header = is64
    ? { is64, le: r.le, type: r.u16(16), phoff: r.u64(32), shoff: r.u64(40), phentsize: r.u16(54), phnum: r.u16(56), shentsize: r.u16(58), shnum: r.u16(60), shstrndx: r.u16(62) }
    : { is64, le: r.le, type: r.u16(16), phoff: BigInt(r.u32(28)), shoff: BigInt(r.u32(32)), phentsize: r.u16(42), phnum: r.u16(44), shentsize: r.u16(46), shnum: r.u16(48), shstrndx: r.u16(50) };
  if (h.phnum > 0 && h.phentsize < (is64 ? 56 : 32)) throw new ElfError(`bad e_phentsize ${h.phentsize}`);
  if (h.shnum > 0 && h.shentsize < (is64 ? 64 : 40)) throw new ElfError(`bad e_shentsize ${h.shentsize}`);
  // More than 0xfffe program headers or 0xfeff sections: the real counts live in section 0.
  if (h.phnum === PN_XNUM || (h.shnum === 0 && h.shoff !== 0n)) {
    const s0 = await readSectionHeaders(fh, { ...h, shnum: 1 });
    const first = s0[0];
    if (first) {
      if (h.phnum === PN_XNUM) h.phnum = first.info;
      if (h.shnum === 0) h.shnum = Number(first.size);
    }
  }
  if (h.phnum > MAX_HEADERS || h.shnum > MAX_HEADERS) throw new ElfError('too many headers');
  return h;
}

interface Section {
  type: number;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  entsize: bigint;
}

async function readSectionHeaders(fh: FileHandle, h: Header): Promise<Section[]> {
  if (h.shoff === 0n || h.shnum === 0) return [];
  const buf = await readAt(fh, h.shoff, h.shnum * h.shentsize);
  const r = new Reader(buf, h.le);
  const out: Section[] = [];
  for (let i = 0; i < h.shnum; i++) {
    const o = i * h.shentsize;
    out.push(h.is64
      ? { type: r.u32(o + 4), offset: r.u64(o + 24), size: r.u64(o + 32), link: r.u32(o + 40), info: r.u32(o + 44), entsize: r.u64(o + 56) }
      : { type: r.u32(o + 4), offset: BigInt(r.u32(o + 16)), size: BigInt(r.u32(o + 20)), link: r.u32(o + 24), info: r.u32(o + 28), entsize: BigInt(r.u32(o + 36)) });
  }
  return out;
}

/** Program headers and build-id. */
export async function readElfInfo(fh: FileHandle): Promise<ElfInfo> {
  const h = await readHeader(fh);
  const loads: LoadSegment[] = [];
  const notes: Array<{ offset: bigint; size: bigint; align: bigint }> = [];
  if (h.phnum > 0) {
    const buf = await readAt(fh, h.phoff, h.phnum * h.phentsize);
    const r = new Reader(buf, h.le);
    for (let i = 0; i < h.phnum; i++) {
      const o = i * h.phentsize;
      const type = r.u32(o);
      const p = h.is64
        ? { flags: r.u32(o + 4), offset: r.u64(o + 8), vaddr: r.u64(o + 16), filesz: r.u64(o + 32), memsz: r.u64(o + 40), align: r.u64(o + 48) }
        : { offset: BigInt(r.u32(o + 4)), vaddr: BigInt(r.u32(o + 8)), filesz: BigInt(r.u32(o + 16)), memsz: BigInt(r.u32(o + 20)), flags: r.u32(o + 24), align: BigInt(r.u32(o + 28)) };
      if (type === PT_LOAD) loads.push({ offset: p.offset, vaddr: p.vaddr, filesz: p.filesz, memsz: p.memsz, executable: (p.flags & PF_X) !== 0 });
      else if (type === PT_NOTE) notes.push({ offset: p.offset, size: p.filesz, align: p.align });
    }
  }
  const sections = await readSectionHeaders(fh, h).catch(() => []);
  if (notes.length === 0) {
    // Separate debug files and relocatable objects have no program headers: look at sections.
    for (const s of sections) if (s.type === SHT_NOTE) notes.push({ offset: s.offset, size: s.size, align: 4n });
  }
  let buildId: string | undefined;
  for (const n of notes) {
    if (n.size > BigInt(MAX_NOTES_BYTES)) continue;
    const buf = await readAt(fh, n.offset, Number(n.size)).catch(() => undefined);
    if (buf) buildId = findBuildId(new Reader(buf, h.le), n.align === 8n ? 8 : 4);
    if (buildId) break;
  }
  const hasSymtab = sections.some((s) => s.type === SHT_SYMTAB);
  return { is64: h.is64, littleEndian: h.le, type: h.type, loads, hasSymtab, ...(buildId ? { buildId } : {}) };
}

function findBuildId(r: Reader, align: number): string | undefined {
  const pad = (n: number) => (n + align - 1) & ~(align - 1);
  let o = 0;
  while (o + 12 <= r.buf.length) {
    const namesz = r.u32(o);
    const descsz = r.u32(o + 4);
    const type = r.u32(o + 8);
    const nameAt = o + 12;
    const descAt = nameAt + pad(namesz);
    const next = descAt + pad(descsz);
    if (namesz > r.buf.length || descsz > r.buf.length || descAt + descsz > r.buf.length) return undefined;
    if (type === NT_GNU_BUILD_ID && namesz === 4 && r.buf.toString('latin1', nameAt, nameAt + 4) === 'GNU\0' && descsz > 0) {
      return r.buf.toString('hex', descAt, descAt + descsz);
    }
    if (next <= o) return undefined;
    o = next;
  }
  return undefined;
}

/**
 * File offset -> ELF virtual address, through the PT_LOAD segment holding that offset (the
 * mapping's start is page-aligned, so an offset in the padding before a segment's first byte
 * belongs to the segment that begins in that page).
 */
export function fileOffsetToVaddr(info: ElfInfo, fileOffset: bigint, pageSize = 4096n): bigint | undefined {
  for (const s of info.loads) {
    if (fileOffset >= s.offset && fileOffset < s.offset + s.filesz) return fileOffset - s.offset + s.vaddr;
  }
  for (const s of info.loads) {
    const base = s.offset - (s.offset % pageSize);
    if (fileOffset >= base && fileOffset < s.offset + s.memsz) return fileOffset - s.offset + s.vaddr;
  }
  return undefined;
}

/**
 * Function symbols from .symtab and .dynsym (a stripped file keeps .dynsym) of one module and,
 * optionally, of its separate debug file (same addresses), sorted by address.
 */
export async function readFunctionSymbols(files: readonly FileHandle[]): Promise<SymbolTable> {
  const c: Candidates = { starts: [], sizes: [], ranks: [], nameOffs: [], tables: [], strtabs: [] };
  for (const fh of files) await collectFunctions(fh, c);
  // One symbol per address (the best-ranked alias), then by address with the native numeric sort.
  const best = new Map<number, number>();
  for (let i = 0; i < c.starts.length; i++) {
    const prev = best.get(c.starts[i]!);
    if (prev === undefined || c.ranks[i]! > c.ranks[prev]!) best.set(c.starts[i]!, i);
  }
  const keep = Array.from(Float64Array.from(best.keys()).sort(), (start) => best.get(start)!);
  const pick = <T extends Float64Array | Uint32Array | Uint8Array>(make: new (n: number) => T, from: number[]) => {
    const out = new make(keep.length);
    keep.forEach((i, k) => (out[k] = from[i]!));
    return out;
  };
  return new SymbolTable(pick(Float64Array, c.starts), pick(Float64Array, c.sizes), pick(Uint32Array, c.nameOffs), pick(Uint8Array, c.tables), c.strtabs);
}

/** Parallel arrays while parsing; numbers, not bigints: user-space addresses stay below 2^53. */
interface Candidates {
  starts: number[];
  sizes: number[];
  ranks: number[];
  nameOffs: number[];
  tables: number[];
  strtabs: Buffer[];
}

async function collectFunctions(fh: FileHandle, c: Candidates): Promise<void> {
  const h = await readHeader(fh);
  const sections = await readSectionHeaders(fh, h);
  // .symtab first: it is a superset of .dynsym when present, and names local functions too.
  const tables = [...sections.filter((s) => s.type === SHT_SYMTAB), ...sections.filter((s) => s.type === SHT_DYNSYM)];
  const entsize = h.is64 ? 24 : 16;
  let budget = MAX_SYMTAB_BYTES;
  for (const s of tables) {
    const strtab = sections[s.link];
    if (!strtab || s.size > BigInt(budget) || strtab.size > BigInt(budget) || c.strtabs.length >= 255) continue;
    budget -= Number(s.size) + Number(strtab.size);
    const symBuf = await readAt(fh, s.offset, Number(s.size) - (Number(s.size) % entsize)).catch(() => undefined);
    const strBuf = await readAt(fh, strtab.offset, Number(strtab.size)).catch(() => undefined);
    if (!symBuf || !strBuf) continue;
    const table = c.strtabs.push(strBuf) - 1;
    const r = new Reader(symBuf, h.le);
    for (let o = 0, n = 0; o + entsize <= symBuf.length; o += entsize, n++) {
      // A big .symtab is parsed in slices: the event loop (and the probes' polling) keeps going.
      if (n % 20000 === 19999) await new Promise((resolve) => setImmediate(resolve));
      const info = h.is64 ? r.u8(o + 4) : r.u8(o + 12);
      const type = info & 0xf;
      if (type !== STT_FUNC && type !== STT_GNU_IFUNC) continue;
      const shndx = h.is64 ? r.u16(o + 6) : r.u16(o + 14);
      const start = h.is64 ? r.u64n(o + 8) : r.u32(o + 4);
      const size = h.is64 ? r.u64n(o + 16) : r.u32(o + 8);
      const nameOff = r.u32(o);
      if (shndx === 0 || !(start > 0) || !(size >= 0) || nameOff >= strBuf.length || strBuf[nameOff] === 0) continue;
      c.starts.push(start);
      c.sizes.push(size);
      c.ranks.push(aliasRank(strBuf[nameOff] === 0x5f, size, info >> 4));
      c.nameOffs.push(nameOff);
      c.tables.push(table);
    }
  }
}

/**
 * Several names at one address (malloc / __libc_malloc, memcpy / __memmove_avx_unaligned):
 * prefer a sized symbol, then global over weak over local, then the public-looking name.
 */
function aliasRank(underscore: boolean, size: number, binding: number): number {
  const bind = binding === 1 ? 2 : binding === 2 ? 1 : 0; // STB_GLOBAL, STB_WEAK, STB_LOCAL
  return (size > 0 ? 8 : 0) + bind * 2 + (underscore ? 0 : 1);
}
