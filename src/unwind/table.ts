// An unwind table: for every address range of one ELF object (object-relative virtual
// addresses), how to find the caller's frame on x86-64. Rows are sorted by start; a row holds
// until the next one. The byte layout is bpf/unwind.h's `struct unwind_row` (16 bytes).
//
// Each row answers three questions for a pc in its range:
//   CFA (the caller's stack pointer before its call): rsp+N, rbp+N, or the PLT expression;
//   the return address: always at CFA-8 (rows whose CFI says otherwise are UNSUPPORTED);
//   the caller's rbp: unchanged, saved at CFA+N, or lost (a rule we do not evaluate).

/** enum unwind_cfa_rule */
export const CFA_RULE = {
  /** No CFI covers this address (a gap between FDEs, or past the last). */
  NONE: 0,
  RSP: 1,
  RBP: 2,
  /**
   * A PLT stub's DW_CFA_def_cfa_expression: rsp + N, plus 8 once the stub has pushed (the pc's
   * low four bits >= `pltMin`: `rsp+8 + ((rip&15) >= 11 ? 8 : 0)` in .plt).
   */
  PLT: 3,
  /** The return address is undefined: the outermost frame (_start, clone3's child). */
  END: 4,
  /** CFI we do not evaluate (other expressions, other CFA registers, signal frames): stop. */
  UNSUPPORTED: 5,
} as const;

/** enum unwind_rbp_rule */
export const RBP_RULE = {
  SAME: 0,
  /** Saved at CFA + rbpOffset. */
  OFFSET: 1,
  /** Some other rule: the caller's rbp is unknown (a CFA based on it ends the walk). */
  LOST: 2,
} as const;

export interface UnwindRow {
  /** First object-relative address the row covers. */
  start: number;
  cfa: number;
  cfaOffset: number;
  rbp: number;
  rbpOffset: number;
  /** PLT rows: the low-four-bits threshold past which the stub has pushed 8 more bytes. */
  pltMin: number;
}

export const ROW_SIZE = 16;
/** The object-relative addresses a row can hold (u32). */
export const MAX_ROW_ADDRESS = 0xffffffff;

export function sameRule(a: UnwindRow, b: UnwindRow): boolean {
  return a.cfa === b.cfa && a.cfaOffset === b.cfaOffset && a.rbp === b.rbp && a.rbpOffset === b.rbpOffset && a.pltMin === b.pltMin;
}

/** The row in force at `addr` (object-relative), or undefined before the first row. */
export function lookupRow(rows: readonly UnwindRow[], addr: number): UnwindRow | undefined {
  let lo = 0;
  let hi = rows.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid]!.start <= addr) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? undefined : rows[found];
}

/** The rows as bpf/unwind.h's array of `struct unwind_row`. */
export function encodeRows(rows: readonly UnwindRow[]): Buffer {
  const buf = Buffer.alloc(rows.length * ROW_SIZE);
  rows.forEach((r, i) => {
    const o = i * ROW_SIZE;
    buf.writeUInt32LE(r.start, o);
    buf.writeInt32LE(r.cfaOffset, o + 4);
    buf.writeInt16LE(r.rbpOffset, o + 8);
    buf.writeUInt8(r.cfa, o + 10);
    buf.writeUInt8(r.rbp, o + 11);
    buf.writeUInt8(r.pltMin, o + 12);
  });
  return buf;
}

export function decodeRows(buf: Buffer): UnwindRow[] {
  const out: UnwindRow[] = [];
  for (let o = 0; o + ROW_SIZE <= buf.length; o += ROW_SIZE) {
    out.push({
      start: buf.readUInt32LE(o),
      cfaOffset: buf.readInt32LE(o + 4),
      rbpOffset: buf.readInt16LE(o + 8),
      cfa: buf.readUInt8(o + 10),
      rbp: buf.readUInt8(o + 11),
      pltMin: buf.readUInt8(o + 12),
    });
  }
  return out;
}
