// DWARF call frame information (.eh_frame, .debug_frame) to an unwind table for x86-64: every
// CIE and FDE is decoded, each FDE's CFA program run from its CIE's initial instructions, and
// the resulting rows reduced to what the BPF walker evaluates (table.ts). The bytes come from a
// file the target process maps, so nothing in them is trusted: every read is bounds-checked
// (a bad entry is skipped, never read past), programs are bounded by their entry, the
// remember-state stack and the row count by fixed limits.
import type { FrameSection } from './elf.ts';
import { CFA_RULE, MAX_ROW_ADDRESS, RBP_RULE, RowTable, type UnwindRow } from './table.ts';

const REG_RBP = 6;
const REG_RSP = 7;
const REG_RA = 16;

/** Bounds for a hostile file. */
export const MAX_ROWS = 4 << 20;
const MAX_STATE_STACK = 64;
const MAX_AUGMENTATION = 16;

const DW_EH_PE_omit = 0xff;
const DW_EH_PE_pcrel = 0x10;
const DW_EH_PE_datarel = 0x30;
const DW_EH_PE_aligned = 0x50;
const DW_EH_PE_indirect = 0x80;

class Bad extends Error {}

/** A bounds-checked cursor over [pos, end) of a buffer. */
class Cursor {
  readonly buf: Buffer;
  pos: number;
  end: number;
  constructor(buf: Buffer, pos: number, end: number) {
    if (pos < 0 || end > buf.length || pos > end) throw new Bad('entry outside the section');
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }
  need(n: number): void {
    if (this.pos + n > this.end) throw new Bad('truncated entry');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  i16(): number {
    this.need(2);
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return Number(BigInt.asIntN(64, v)); // addresses above 2^53 come out inexact: rejected later
  }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) break;
      if (mul > 2 ** 63) throw new Bad('LEB128 too long');
    }
    return result;
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    let b: number;
    do {
      b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (mul > 2 ** 63) throw new Bad('LEB128 too long');
    } while (b & 0x80);
    if (b & 0x40) result -= mul;
    return result;
  }
  cstring(): string {
    const at = this.buf.indexOf(0, this.pos);
    if (at < 0 || at >= this.end) throw new Bad('unterminated string');
    const s = this.buf.toString('latin1', this.pos, at);
    this.pos = at + 1;
    return s;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}

interface Cie {
  codeAlign: number;
  dataAlign: number;
  raReg: number;
  fdeEncoding: number;
  hasAugData: boolean;
  signal: boolean;
  addressSize: number;
  initial: Buffer;
}

type RegRule = { kind: 'same' } | { kind: 'undefined' } | { kind: 'offset'; off: number } | { kind: 'other' };

interface State {
  cfaReg: number;
  cfaOff: number;
  /** undefined: a register rule; 'plt' or 'other' for a DW_CFA_def_cfa_expression. */
  cfaExpr?: { kind: 'plt'; off: number; min: number } | { kind: 'other' };
  rbp: RegRule;
  ra: RegRule;
}

const cloneState = (s: State): State => ({ ...s });

/** Statistics of one parse, for tests and the cost statement. */
export interface CfiStats {
  cies: number;
  fdes: number;
  /** Entries skipped as malformed or using encodings we do not read. */
  skipped: number;
}

export interface CfiTable {
  rows: RowTable;
  stats: CfiStats;
}

/** Reads an encoded pointer; `at` is the field's virtual address (for pcrel). */
function readEncoded(c: Cursor, enc: number, sectionAddr: number, addressSize: number): number {
  if (enc === DW_EH_PE_omit) throw new Bad('omitted pointer');
  if (enc & DW_EH_PE_indirect) throw new Bad('indirect pointer');
  const app = enc & 0x70;
  if (app === DW_EH_PE_aligned) throw new Bad('aligned pointer');
  const fieldAddr = sectionAddr + c.pos;
  let v: number;
  switch (enc & 0x0f) {
    case 0x00: v = addressSize === 4 ? c.u32() : c.u64(); break;
    case 0x01: v = c.uleb(); break;
    case 0x02: v = c.u16(); break;
    case 0x03: v = c.u32(); break;
    case 0x04: v = c.u64(); break;
    case 0x09: v = c.sleb(); break;
    case 0x0a: v = c.i16(); break;
    case 0x0b: v = c.i32(); break;
    case 0x0c: v = c.u64(); break;
    default: throw new Bad(`pointer encoding 0x${enc.toString(16)}`);
  }
  if (app === DW_EH_PE_pcrel) v += fieldAddr;
  else if (app !== 0) throw new Bad(`pointer application 0x${app.toString(16)}${app === DW_EH_PE_datarel ? ' (datarel)' : ''}`);
  return v;
}

/** Size of an encoded value without application (FDE address ranges). */
function readEncodedRange(c: Cursor, enc: number, addressSize: number): number {
  return readEncoded(c, enc & 0x0f, 0, addressSize);
}

function parseCie(c: Cursor, debugFrame: boolean, sectionAddr: number): Cie {
  const version = c.u8();
  if (version !== 1 && version !== 3 && version !== 4) throw new Bad(`CIE version ${version}`);
  const aug = c.cstring();
  let addressSize = 8;
  if (version === 4) {
    addressSize = c.u8();
    c.u8(); // segment selector size
    if (addressSize !== 8 && addressSize !== 4) throw new Bad(`address size ${addressSize}`);
  }
  if (aug.includes('eh')) throw new Bad('"eh" augmentation');
  const codeAlign = c.uleb();
  const dataAlign = c.sleb();
  const raReg = version === 1 ? c.u8() : c.uleb();
  const cie: Cie = { codeAlign, dataAlign, raReg, fdeEncoding: debugFrame ? 0 : 0, hasAugData: false, signal: false, addressSize, initial: Buffer.alloc(0) };
  if (aug.startsWith('z')) {
    if (aug.length > MAX_AUGMENTATION) throw new Bad('augmentation too long');
    cie.hasAugData = true;
    const len = c.uleb();
    c.need(len);
    const augEnd = c.pos + len;
    const a = new Cursor(c.buf, c.pos, augEnd);
    for (const ch of aug.slice(1)) {
      if (ch === 'R') cie.fdeEncoding = a.u8();
      else if (ch === 'L') a.u8();
      else if (ch === 'P') readEncoded(a, a.u8() & ~DW_EH_PE_indirect, sectionAddr, addressSize); // skipped, not followed
      else if (ch === 'S') cie.signal = true;
      else if (ch === 'B' || ch === 'G') continue;
      else break; // unknown: the length lets us skip the rest
    }
    c.pos = augEnd;
  } else if (aug !== '') {
    throw new Bad(`augmentation "${aug}"`);
  }
  cie.initial = c.buf.subarray(c.pos, c.end);
  return cie;
}

/** Recognizes the PLT stubs' CFA expression (GCC and binutils emit it for .plt and .plt.sec). */
function pltExpression(expr: Buffer): { kind: 'plt'; off: number; min: number } | undefined {
  // DW_OP_breg7 (rsp) N; DW_OP_breg16 (rip) 0; DW_OP_lit15; DW_OP_and; DW_OP_litK; DW_OP_ge;
  // DW_OP_lit3; DW_OP_shl; DW_OP_plus
  try {
    const c = new Cursor(expr, 0, expr.length);
    if (c.u8() !== 0x77) return undefined;
    const off = c.sleb();
    if (c.u8() !== 0x80 || c.sleb() !== 0) return undefined;
    if (c.u8() !== 0x3f || c.u8() !== 0x1a) return undefined;
    const lit = c.u8();
    if (lit < 0x30 || lit > 0x3f) return undefined;
    if (c.u8() !== 0x2a || c.u8() !== 0x33 || c.u8() !== 0x24 || c.u8() !== 0x22 || c.pos !== c.end) return undefined;
    if (off < 0 || off > 0xffff) return undefined;
    return { kind: 'plt', off, min: lit - 0x30 };
  } catch {
    return undefined;
  }
}

/**
 * Runs a CFA program from `state`, calling `emit(loc)` before the location advances past a
 * row. Returns the location reached. Throws Bad on malformed programs.
 */
function runProgram(prog: Buffer, cie: Cie, state: State, initial: State | undefined, loc: number, end: number,
  emit: (loc: number, s: State) => void, encoding: number, sectionAddr: number, sectionPosOf: (b: Buffer) => number): number {
  const c = new Cursor(prog, 0, prog.length);
  const stack: State[] = [];
  const setReg = (reg: number, rule: RegRule) => {
    if (reg === REG_RBP) state.rbp = rule;
    else if (reg === REG_RA || reg === cie.raReg) state.ra = rule;
    else if (reg === REG_RSP && rule.kind !== 'same' && rule.kind !== 'undefined') {
      // rsp restored from memory: we always take the caller's rsp to be the CFA.
      state.cfaExpr = { kind: 'other' };
    }
  };
  const restoreReg = (reg: number) => {
    if (!initial) return; // in the CIE's own program: DW_CFA_restore is meaningless, ignored
    if (reg === REG_RBP) state.rbp = initial.rbp;
    else if (reg === REG_RA || reg === cie.raReg) state.ra = initial.ra;
  };
  const advance = (delta: number) => {
    emit(loc, state);
    loc += delta * cie.codeAlign;
  };
  while (c.pos < c.end && loc < end) {
    const op = c.u8();
    const hi = op & 0xc0;
    const low = op & 0x3f;
    if (hi === 0x40) {
      advance(low);
      continue;
    }
    if (hi === 0x80) {
      setReg(low, { kind: 'offset', off: c.uleb() * cie.dataAlign });
      continue;
    }
    if (hi === 0xc0) {
      restoreReg(low);
      continue;
    }
    switch (op) {
      case 0x00: break; // nop
      case 0x01: { // set_loc
        const field = sectionPosOf(prog) + c.pos;
        const sub = new Cursor(prog, c.pos, c.end);
        const to = readEncoded(sub, encoding, sectionAddr + field - sub.pos, cie.addressSize);
        c.pos = sub.pos;
        if (to < loc) throw new Bad('DW_CFA_set_loc backwards');
        emit(loc, state);
        loc = to;
        break;
      }
      case 0x02: advance(c.u8()); break;
      case 0x03: advance(c.u16()); break;
      case 0x04: advance(c.u32()); break;
      case 0x05: setReg(c.uleb(), { kind: 'offset', off: c.uleb() * cie.dataAlign }); break;
      case 0x06: restoreReg(c.uleb()); break;
      case 0x07: setReg(c.uleb(), { kind: 'undefined' }); break;
      case 0x08: setReg(c.uleb(), { kind: 'same' }); break;
      case 0x09: setReg(c.uleb(), (c.uleb(), { kind: 'other' })); break;
      case 0x0a:
        if (stack.length >= MAX_STATE_STACK) throw new Bad('remember_state too deep');
        stack.push(cloneState(state));
        break;
      case 0x0b: {
        // libgcc and LLVM's libunwind restore the CFA rule too, and compilers rely on it.
        const s = stack.pop();
        if (!s) throw new Bad('restore_state without remember_state');
        Object.assign(state, s);
        break;
      }
      case 0x0c:
        state.cfaReg = c.uleb();
        state.cfaOff = c.uleb();
        delete state.cfaExpr;
        break;
      case 0x0d:
        state.cfaReg = c.uleb();
        delete state.cfaExpr;
        break;
      case 0x0e:
        state.cfaOff = c.uleb();
        break;
      case 0x0f: {
        const len = c.uleb();
        c.need(len);
        const expr = prog.subarray(c.pos, c.pos + len);
        c.pos += len;
        state.cfaExpr = pltExpression(expr) ?? { kind: 'other' };
        break;
      }
      case 0x10: { // expression
        const reg = c.uleb();
        c.skip(c.uleb());
        setReg(reg, { kind: 'other' });
        break;
      }
      case 0x11: setReg(c.uleb(), { kind: 'offset', off: c.sleb() * cie.dataAlign }); break;
      case 0x12:
        state.cfaReg = c.uleb();
        state.cfaOff = c.sleb() * cie.dataAlign;
        delete state.cfaExpr;
        break;
      case 0x13: state.cfaOff = c.sleb() * cie.dataAlign; break;
      case 0x14: setReg(c.uleb(), (c.uleb(), { kind: 'other' })); break; // val_offset
      case 0x15: setReg(c.uleb(), (c.sleb(), { kind: 'other' })); break; // val_offset_sf
      case 0x16: { // val_expression
        const reg = c.uleb();
        c.skip(c.uleb());
        setReg(reg, { kind: 'other' });
        break;
      }
      case 0x2e: c.uleb(); break; // GNU_args_size
      case 0x2f: setReg(c.uleb(), { kind: 'offset', off: -c.uleb() * cie.dataAlign }); break; // GNU_negative_offset_extended
      default: throw new Bad(`CFA opcode 0x${op.toString(16)}`);
    }
  }
  return loc;
}

/** The table row a CFA state becomes (start filled in by the caller). */
function toRow(start: number, s: State, signal: boolean): UnwindRow {
  const row: UnwindRow = { start, cfa: CFA_RULE.UNSUPPORTED, cfaOffset: 0, rbp: RBP_RULE.SAME, rbpOffset: 0, pltMin: 0 };
  if (s.ra.kind === 'undefined') {
    row.cfa = CFA_RULE.END;
    return row;
  }
  if (signal || s.ra.kind !== 'offset' || s.ra.off !== -8) return row;
  if (s.cfaExpr) {
    if (s.cfaExpr.kind !== 'plt') return row;
    row.cfa = CFA_RULE.PLT;
    row.cfaOffset = s.cfaExpr.off;
    row.pltMin = s.cfaExpr.min;
    return row;
  }
  if ((s.cfaReg !== REG_RSP && s.cfaReg !== REG_RBP) || s.cfaOff < -0x80000000 || s.cfaOff > 0x7fffffff) return row;
  row.cfa = s.cfaReg === REG_RSP ? CFA_RULE.RSP : CFA_RULE.RBP;
  row.cfaOffset = s.cfaOff;
  if (s.rbp.kind === 'offset') {
    if (s.rbp.off >= -0x8000 && s.rbp.off <= 0x7fff) {
      row.rbp = RBP_RULE.OFFSET;
      row.rbpOffset = s.rbp.off;
    } else row.rbp = RBP_RULE.LOST;
  } else if (s.rbp.kind === 'other') row.rbp = RBP_RULE.LOST;
  return row;
}

/** One FDE's rows: [first, first + count) of the parse's scratch table. */
interface FdeRows {
  start: number;
  end: number;
  first: number;
  count: number;
}

/**
 * Parses a .eh_frame or .debug_frame section into a sorted, merged unwind table for x86-64.
 * Malformed entries are skipped (counted); FDEs outside the u32 range are too.
 */
export function parseCfi(section: FrameSection): CfiTable {
  const debugFrame = section.kind === 'debug_frame';
  const buf = section.data;
  const stats: CfiStats = { cies: 0, fdes: 0, skipped: 0 };
  const cies = new Map<number, Cie | null>();
  const fdes: FdeRows[] = [];
  const scratch = new RowTable(Math.max(64, buf.length >> 4));
  let rowBudget = MAX_ROWS;

  const cieAt = (off: number): Cie | null => {
    const known = cies.get(off);
    if (known !== undefined) return known;
    let cie: Cie | null = null;
    try {
      const c = new Cursor(buf, off, buf.length);
      let len = c.u32();
      let idSize = 4;
      if (len === 0xffffffff) {
        len = c.u64();
        idSize = 8;
      }
      const end = c.pos + len;
      if (len < idSize || end > buf.length) throw new Bad('CIE length');
      const e = new Cursor(buf, c.pos, end);
      const id = idSize === 4 ? e.u32() : e.u64();
      const isCie = debugFrame ? (idSize === 4 ? id === 0xffffffff : id === -1) : id === 0;
      if (!isCie) throw new Bad('not a CIE');
      cie = parseCie(e, debugFrame, section.addr);
      stats.cies++;
    } catch (err) {
      if (!(err instanceof Bad)) throw err;
      stats.skipped++;
    }
    cies.set(off, cie);
    return cie;
  };

  let pos = 0;
  while (pos + 4 <= buf.length) {
    const entryAt = pos;
    let len = buf.readUInt32LE(pos);
    pos += 4;
    let idSize = 4;
    if (len === 0) {
      if (!debugFrame) break; // .eh_frame's terminator
      continue;
    }
    if (len === 0xffffffff) {
      if (pos + 8 > buf.length) break;
      const l = buf.readBigUInt64LE(pos);
      pos += 8;
      if (l > BigInt(buf.length)) break;
      len = Number(l);
      idSize = 8;
    }
    const end = pos + len;
    if (end > buf.length || len < idSize) break; // the rest cannot be framed: stop
    const idAt = pos;
    pos = end;
    const first = scratch.length;
    try {
      const c = new Cursor(buf, idAt, end);
      const id = idSize === 4 ? c.u32() : c.u64();
      const isCie = debugFrame ? (idSize === 4 ? id === 0xffffffff : id === -1) : id === 0;
      if (isCie) {
        cieAt(entryAt);
        continue;
      }
      const cieOff = debugFrame ? id : idAt - id;
      if (cieOff < 0 || cieOff >= buf.length) throw new Bad('CIE pointer');
      const cie = cieAt(cieOff);
      if (!cie) throw new Bad('FDE of a bad CIE');
      const enc = debugFrame ? (cie.addressSize === 4 ? 0x03 : 0x04) : cie.fdeEncoding;
      const start = readEncoded(c, enc, section.addr, cie.addressSize);
      const range = readEncodedRange(c, enc, cie.addressSize);
      if (cie.hasAugData) c.skip(c.uleb());
      stats.fdes++;
      if (range <= 0) continue;
      const fdeEnd = start + range;
      if (!(start >= 0) || !(fdeEnd <= MAX_ROW_ADDRESS + 1) || !Number.isSafeInteger(fdeEnd)) throw new Bad('FDE outside the u32 range');
      const emit = (loc: number, s: State) => {
        if (loc >= fdeEnd) return;
        if (--rowBudget < 0) throw new Bad('too many rows');
        const row = toRow(loc, s, cie.signal);
        const last = scratch.length - 1;
        if (last >= first && scratch.startAt(last) === loc) scratch.set(last, row);
        else if (last < first || !scratch.sameRuleAt(last, row)) scratch.push(row);
      };
      const state: State = { cfaReg: REG_RSP, cfaOff: 8, rbp: { kind: 'same' }, ra: { kind: 'same' } };
      const posOf = (b: Buffer) => b.byteOffset - buf.byteOffset;
      // The CIE's initial instructions, then the FDE's, from the FDE's first address.
      runProgram(cie.initial, cie, state, undefined, start, Infinity, () => {}, enc, section.addr, posOf);
      const initial = cloneState(state);
      const loc = runProgram(buf.subarray(c.pos, end), cie, state, initial, start, fdeEnd, emit, enc, section.addr, posOf);
      if (loc < fdeEnd) emit(loc, state);
      fdes.push({ start, end: fdeEnd, first, count: scratch.length - first });
    } catch (err) {
      if (!(err instanceof Bad)) throw err;
      scratch.truncate(first);
      stats.skipped++;
      if (rowBudget < 0) break;
    }
  }
  return { rows: mergeFdes(fdes, scratch), stats };
}

/** One sorted table: FDEs by start (an overlapping one is cut where the next begins), a NONE
 * row where coverage stops, adjacent identical rows merged. */
function mergeFdes(fdes: FdeRows[], scratch: RowTable): RowTable {
  fdes.sort((a, b) => a.start - b.start || a.end - b.end);
  const out = new RowTable(scratch.length + fdes.length);
  const push = (row: UnwindRow) => {
    const n = out.length;
    if (n > 0 && out.startAt(n - 1) === row.start) {
      out.set(n - 1, row);
      if (n > 1 && out.sameRuleAt(n - 2, row)) out.pop();
    } else if (n === 0 || !out.sameRuleAt(n - 1, row)) out.push(row);
  };
  for (let i = 0; i < fdes.length; i++) {
    const f = fdes[i]!;
    const next = fdes[i + 1];
    const end = next && next.start < f.end ? next.start : f.end;
    if (end <= f.start) continue;
    for (let r = f.first; r < f.first + f.count; r++) if (scratch.startAt(r) < end) push(scratch.at(r));
    if (!next || next.start > end) push({ start: end, cfa: CFA_RULE.NONE, cfaOffset: 0, rbp: RBP_RULE.SAME, rbpOffset: 0, pltMin: 0 });
  }
  return out;
}
