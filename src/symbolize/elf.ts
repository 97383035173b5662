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
}

export interface ElfSymbol {
  name: string;
  start: bigint;
  size: bigint;
}

/** Sorted function symbols of one module, searchable by virtual address. */
export class SymbolTable {
  readonly symbols: readonly ElfSymbol[];
  constructor(symbols: ElfSymbol[]) {
    this.symbols = symbols;
  }

  /** The function containing `vaddr`: within its size, or (size 0) before the next symbol. */
  lookup(vaddr: bigint): ElfSymbol | undefined {
    const s = this.symbols;
    let lo = 0;
    let hi = s.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]!.start <= vaddr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const sym = s[found]!;
    if (sym.size > 0n) return vaddr < sym.start + sym.size ? sym : undefined;
    const next = s[found + 1];
    return next === undefined || vaddr < next.start ? sym : undefined;
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
  if (notes.length === 0) {
    // Separate debug files and relocatable objects have no program headers: look at sections.
    for (const s of await readSectionHeaders(fh, h)) if (s.type === SHT_NOTE) notes.push({ offset: s.offset, size: s.size, align: 4n });
  }
  let buildId: string | undefined;
  for (const n of notes) {
    if (n.size > BigInt(MAX_NOTES_BYTES)) continue;
    const buf = await readAt(fh, n.offset, Number(n.size)).catch(() => undefined);
    if (buf) buildId = findBuildId(new Reader(buf, h.le), n.align === 8n ? 8 : 4);
    if (buildId) break;
  }
  return { is64: h.is64, littleEndian: h.le, type: h.type, loads, ...(buildId ? { buildId } : {}) };
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
  const byStart = new Map<bigint, ElfSymbol & { rank: number }>();
  for (const fh of files) await collectFunctions(fh, byStart);
  return new SymbolTable([...byStart.values()].map(({ name, start, size }) => ({ name, start, size })).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0)));
}

async function collectFunctions(fh: FileHandle, byStart: Map<bigint, ElfSymbol & { rank: number }>): Promise<void> {
  const h = await readHeader(fh);
  const sections = await readSectionHeaders(fh, h);
  // .symtab first: it is a superset of .dynsym when present, and names local functions too.
  const tables = [...sections.filter((s) => s.type === SHT_SYMTAB), ...sections.filter((s) => s.type === SHT_DYNSYM)];
  let budget = MAX_SYMTAB_BYTES;
  for (const s of tables) {
    const strtab = sections[s.link];
    const entsize = h.is64 ? 24 : 16;
    if (!strtab || s.size > BigInt(budget) || strtab.size > BigInt(budget)) continue;
    budget -= Number(s.size) + Number(strtab.size);
    const symBuf = await readAt(fh, s.offset, Number(s.size) - (Number(s.size) % entsize)).catch(() => undefined);
    const strBuf = await readAt(fh, strtab.offset, Number(strtab.size)).catch(() => undefined);
    if (!symBuf || !strBuf) continue;
    const r = new Reader(symBuf, h.le);
    for (let o = 0; o + entsize <= symBuf.length; o += entsize) {
      const nameOff = r.u32(o);
      const info = h.is64 ? r.u8(o + 4) : r.u8(o + 12);
      const shndx = h.is64 ? r.u16(o + 6) : r.u16(o + 14);
      const value = h.is64 ? r.u64(o + 8) : BigInt(r.u32(o + 4));
      const size = h.is64 ? r.u64(o + 16) : BigInt(r.u32(o + 8));
      const type = info & 0xf;
      if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || shndx === 0 || value === 0n) continue;
      if (nameOff >= strBuf.length) continue;
      const end = strBuf.indexOf(0, nameOff);
      const name = strBuf.toString('utf8', nameOff, end < 0 ? strBuf.length : end);
      if (name === '') continue;
      const candidate = { name, start: value, size, rank: aliasRank(name, size, info >> 4) };
      const prev = byStart.get(value);
      if (!prev || candidate.rank > prev.rank) byStart.set(value, candidate);
      // A big .symtab is parsed in slices: the event loop (and the probes' polling) keeps going.
      if ((o / entsize) % 20000 === 19999) await new Promise((r) => setImmediate(r));
    }
  }
}

/**
 * Several names at one address (malloc / __libc_malloc, memcpy / __memmove_avx_unaligned):
 * prefer a sized symbol, then global over weak over local, then the public-looking name.
 */
function aliasRank(name: string, size: bigint, binding: number): number {
  const bind = binding === 1 ? 2 : binding === 2 ? 1 : 0; // STB_GLOBAL, STB_WEAK, STB_LOCAL
  return (size > 0n ? 8 : 0) + bind * 2 + (name.startsWith('_') ? 0 : 1);
}
