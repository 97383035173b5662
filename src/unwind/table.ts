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

/** The row in force at `addr` (object-relative), or undefined before the first row. */
export function lookupRow(rows: RowTable, addr: number): UnwindRow | undefined {
  let lo = 0;
  let hi = rows.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (rows.startAt(mid) <= addr) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? undefined : rows.at(found);
}

/**
 * Rows held as bpf/unwind.h's array of `struct unwind_row`, 16 bytes each, as they are built:
 * a host's tables are millions of rows, and as JS objects they were hundreds of MB of heap.
 */
export class RowTable {
  #buf: Buffer;
  #length = 0;

  constructor(capacity = 256) {
    this.#buf = Buffer.alloc(Math.max(1, capacity) * ROW_SIZE);
  }

  static of(rows: readonly UnwindRow[]): RowTable {
    const t = new RowTable(rows.length);
    for (const r of rows) t.push(r);
    return t;
  }

  get length(): number {
    return this.#length;
  }

  startAt(i: number): number {
    return this.#buf.readUInt32LE(i * ROW_SIZE);
  }

  at(i: number): UnwindRow {
    return readRow(this.#buf, i * ROW_SIZE);
  }

  /** Does row `i` hold the same rule as `r` (start aside)? */
  sameRuleAt(i: number, r: UnwindRow): boolean {
    const o = i * ROW_SIZE;
    const b = this.#buf;
    return b.readInt32LE(o + 4) === r.cfaOffset && b.readInt16LE(o + 8) === r.rbpOffset && b[o + 10] === r.cfa && b[o + 11] === r.rbp && b[o + 12] === r.pltMin;
  }

  push(r: UnwindRow): void {
    if ((this.#length + 1) * ROW_SIZE > this.#buf.length) {
      const bigger = Buffer.alloc(this.#buf.length * 2);
      this.#buf.copy(bigger);
      this.#buf = bigger;
    }
    this.set(this.#length++, r);
  }

  set(i: number, r: UnwindRow): void {
    writeRow(this.#buf, i * ROW_SIZE, r);
  }

  pop(): void {
    if (this.#length > 0) this.#length--;
  }

  /** Drops the rows from `n` on. */
  truncate(n: number): void {
    this.#length = Math.min(this.#length, Math.max(0, n));
  }

  /** The rows' bytes, as the kernel's map holds them (a view: valid until the next push). */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#length * ROW_SIZE);
  }

  /** A copy sized to its rows: what a finished table keeps. */
  trimmed(): RowTable {
    const t = new RowTable(this.#length);
    this.#buf.copy(t.#buf, 0, 0, this.#length * ROW_SIZE);
    t.#length = this.#length;
    return t;
  }

  toArray(): UnwindRow[] {
    const out: UnwindRow[] = [];
    for (let i = 0; i < this.#length; i++) out.push(this.at(i));
    return out;
  }
}

function writeRow(buf: Buffer, o: number, r: UnwindRow): void {
  buf.writeUInt32LE(r.start, o);
  buf.writeInt32LE(r.cfaOffset, o + 4);
  buf.writeInt16LE(r.rbpOffset, o + 8);
  buf.writeUInt8(r.cfa, o + 10);
  buf.writeUInt8(r.rbp, o + 11);
  buf.writeUInt8(r.pltMin, o + 12);
}

function readRow(buf: Buffer, o: number): UnwindRow {
  return {
    start: buf.readUInt32LE(o),
    cfaOffset: buf.readInt32LE(o + 4),
    rbpOffset: buf.readInt16LE(o + 8),
    cfa: buf.readUInt8(o + 10),
    rbp: buf.readUInt8(o + 11),
    pltMin: buf.readUInt8(o + 12),
  };
}

/** The rows as bpf/unwind.h's array of `struct unwind_row`. */
export function encodeRows(rows: readonly UnwindRow[]): Buffer {
  return Buffer.from(RowTable.of(rows).bytes());
}

export function decodeRows(buf: Buffer): UnwindRow[] {
  const out: UnwindRow[] = [];
  for (let o = 0; o + ROW_SIZE <= buf.length; o += ROW_SIZE) out.push(readRow(buf, o));
  return out;
}
