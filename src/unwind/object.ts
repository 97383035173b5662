// The unwind table of one ELF object, built from a descriptor the caller opened and checked
// (src/host/attach-file.ts proves it is the file the process maps).
import { parseCfi, type CfiStats } from './cfi.ts';
import { EM_X86_64, readUnwindElf, type ElfLoad } from './elf.ts';
import { RowTable } from './table.ts';

export interface ObjectTable {
  /** Where the rows came from; 'none' when the object has no CFI (walked by frame pointers). */
  source: 'eh_frame' | 'debug_frame' | 'none';
  rows: RowTable;
  loads: ElfLoad[];
  stats: CfiStats;
}

/** Reads and parses the object open on `fd`. Throws for a file that is not x86-64 ELF. */
export function buildObjectTable(fd: number): ObjectTable {
  const elf = readUnwindElf(fd);
  if (elf.machine !== EM_X86_64) throw new Error(`ELF machine ${elf.machine} is not x86-64: no unwinder for it`);
  // .eh_frame unless it has no FDE (code built -fno-asynchronous-unwind-tables keeps an empty
  // one, its CFI in .debug_frame).
  for (const section of elf.frames) {
    const { rows, stats } = parseCfi(section);
    if (stats.fdes > 0) return { source: section.kind, rows, loads: elf.loads, stats };
  }
  return { source: 'none', rows: new RowTable(0), loads: elf.loads, stats: { cies: 0, fdes: 0, skipped: 0 } };
}
