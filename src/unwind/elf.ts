// The few ELF facts an unwind table needs: the machine, the PT_LOAD segments (to turn a mapping's
// file offset into the object's virtual addresses) and the bytes and address of `.eh_frame` or
// `.debug_frame`. Read synchronously from an open descriptor (tables are built while a probe
// attaches). The file is the target process's and possibly hostile: every count, offset and
// size is checked against the file and against fixed bounds before anything is read.
import { fstatSync, readSync } from 'node:fs';

const PT_LOAD = 1;
const PF_X = 1;
const SHT_NOBITS = 8;
const SHF_COMPRESSED = 0x800;
export const EM_X86_64 = 62;

/** Far above any real object's (libstdc++'s .eh_frame is 200 KiB, Chromium's some 10 MiB). */
const MAX_FRAME_SECTION_BYTES = 64 << 20;
const MAX_HEADERS = 65536;
const MAX_SHSTRTAB_BYTES = 1 << 20;

export class UnwindElfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnwindElfError';
  }
}

export interface FrameSection {
  kind: 'eh_frame' | 'debug_frame';
  /** sh_addr: the virtual address of the section's first byte (0 for .debug_frame). */
  addr: number;
  data: Buffer;
}

export interface ElfLoad {
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  executable: boolean;
}

export interface UnwindElf {
  machine: number;
  loads: ElfLoad[];
  /** .eh_frame, then .debug_frame (uncompressed), those the file has. */
  frames: FrameSection[];
}

function readAt(fd: number, size: number, pos: number, len: number, what: string): Buffer {
  if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(len) || pos < 0 || len < 0 || pos + len > size) {
    throw new UnwindElfError(`${what}: ${len} bytes at ${pos} lie outside the file (${size} bytes)`);
  }
  const buf = Buffer.alloc(len);
  let done = 0;
  while (done < len) {
    const n = readSync(fd, buf, done, len - done, pos + done);
    if (n <= 0) throw new UnwindElfError(`${what}: short read at ${pos + done}`);
    done += n;
  }
  return buf;
}

/** A u64 as a number; throws above 2^53 (no real offset or address of ours is that large). */
function u64(b: Buffer, o: number, what: string): number {
  const v = b.readBigUInt64LE(o);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnwindElfError(`${what} ${v} out of range`);
  return Number(v);
}

/** Reads what unwinding needs from an ELF64 little-endian object open on `fd`. */
export function readUnwindElf(fd: number): UnwindElf {
  const size = fstatSync(fd).size;
  const eh = readAt(fd, size, 0, Math.min(64, size), 'ELF header');
  if (eh.length < 64 || eh.readUInt32BE(0) !== 0x7f454c46) throw new UnwindElfError('not an ELF file');
  if (eh[4] !== 2 || eh[5] !== 1) throw new UnwindElfError('not a 64-bit little-endian ELF file');
  const machine = eh.readUInt16LE(18);
  const phoff = u64(eh, 32, 'e_phoff');
  const shoff = u64(eh, 40, 'e_shoff');
  const phentsize = eh.readUInt16LE(54);
  const phnum = eh.readUInt16LE(56);
  const shentsize = eh.readUInt16LE(58);
  const shnum = eh.readUInt16LE(60);
  const shstrndx = eh.readUInt16LE(62);

  const loads: ElfLoad[] = [];
  if (phnum > 0) {
    if (phentsize < 56 || phnum > MAX_HEADERS) throw new UnwindElfError(`bad program headers (${phnum} of ${phentsize} bytes)`);
    const ph = readAt(fd, size, phoff, phnum * phentsize, 'program headers');
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      if (ph.readUInt32LE(o) !== PT_LOAD) continue;
      loads.push({
        executable: (ph.readUInt32LE(o + 4) & PF_X) !== 0,
        offset: u64(ph, o + 8, 'p_offset'),
        vaddr: u64(ph, o + 16, 'p_vaddr'),
        filesz: u64(ph, o + 32, 'p_filesz'),
        memsz: u64(ph, o + 40, 'p_memsz'),
      });
    }
  }

  const out: UnwindElf = { machine, loads, frames: [] };
  // e_shnum 0 with sections (more than 0xfeff) keeps the count in section 0: refused, no real
  // shared object has that many. Neither has a name table past SHN_LORESERVE.
  if (shoff === 0 || shnum === 0 || shstrndx === 0 || shstrndx >= shnum) return out;
  if (shentsize < 64 || shnum > MAX_HEADERS) throw new UnwindElfError(`bad section headers (${shnum} of ${shentsize} bytes)`);
  const sh = readAt(fd, size, shoff, shnum * shentsize, 'section headers');
  const section = (i: number) => {
    const o = i * shentsize;
    return {
      name: sh.readUInt32LE(o),
      type: sh.readUInt32LE(o + 4),
      flags: u64(sh, o + 8, 'sh_flags'),
      addr: u64(sh, o + 16, 'sh_addr'),
      offset: u64(sh, o + 24, 'sh_offset'),
      size: u64(sh, o + 32, 'sh_size'),
    };
  };
  const strSec = section(shstrndx);
  if (strSec.size > MAX_SHSTRTAB_BYTES) throw new UnwindElfError('section name table too large');
  const names = readAt(fd, size, strSec.offset, strSec.size, 'section names');
  const nameOf = (off: number) => {
    if (off >= names.length) return '';
    const end = names.indexOf(0, off);
    return names.toString('latin1', off, end < 0 ? names.length : end);
  };
  let debugFrame: FrameSection | undefined;
  for (let i = 1; i < shnum; i++) {
    const s = section(i);
    const name = nameOf(s.name);
    if (name !== '.eh_frame' && name !== '.debug_frame') continue;
    if (s.type === SHT_NOBITS || (s.flags & SHF_COMPRESSED) !== 0 || s.size === 0) continue;
    if (s.size > MAX_FRAME_SECTION_BYTES) throw new UnwindElfError(`${name} of ${s.size} bytes is over the ${MAX_FRAME_SECTION_BYTES}-byte bound`);
    const data = readAt(fd, size, s.offset, s.size, name);
    if (name === '.eh_frame') out.frames.unshift({ kind: 'eh_frame', addr: s.addr, data });
    else debugFrame ??= { kind: 'debug_frame', addr: 0, data };
  }
  if (debugFrame) out.frames.push(debugFrame);
  return out;
}

/** The object's virtual address of a mapping's file offset (its PT_LOAD segment), or undefined. */
export function offsetToVaddr(loads: readonly ElfLoad[], fileOffset: number, pageSize = 4096): number | undefined {
  for (const s of loads) {
    if (fileOffset >= s.offset && fileOffset < s.offset + s.filesz) return fileOffset - s.offset + s.vaddr;
  }
  // A mapping starts page-aligned: the padding before a segment's first byte belongs to it.
  for (const s of loads) {
    const base = s.offset - (s.offset % pageSize);
    if (fileOffset >= base && fileOffset < s.offset + s.memsz) return fileOffset - s.offset + s.vaddr;
  }
  return undefined;
}
