// Unwind tables from DWARF CFI (.eh_frame, .debug_frame) for the BPF stack walker
// (bpf/unwind.bpf.h), and the maps that hold them (maps.ts).
export { parseCfi, MAX_ROWS } from './cfi.ts';
export type { CfiStats, CfiTable } from './cfi.ts';
export { readUnwindElf, offsetToVaddr, UnwindElfError } from './elf.ts';
export type { ElfLoad, FrameSection, UnwindElf } from './elf.ts';
export { buildObjectTable } from './object.ts';
export type { ObjectTable } from './object.ts';
export { CFA_RULE, RBP_RULE, ROW_SIZE, RowTable, decodeRows, encodeRows, lookupRow } from './table.ts';
export type { UnwindRow } from './table.ts';
export { ProcessUnwinder, decodeUnwindStack } from './process.ts';
