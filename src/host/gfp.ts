// GFP masks as the kernel names them. The running kernel's own table is the `__print_flags` list
// in the print fmt of kmem:mm_page_alloc (tracefs): flag values move between kernel versions
// and configs, and the order of that list decides the rendering. Decoding follows the kernel's
// trace_print_flags_seq(): in table order, a name whose bits are all set is printed and its bits
// cleared (composites come first, so GFP_KERNEL swallows its parts), then leftover bits as hex.
import { readFileSync } from 'node:fs';

export interface GfpFlag {
  mask: bigint;
  name: string;
}

export interface GfpTable {
  flags: readonly GfpFlag[];
  /** Where the table came from: the running kernel's tracefs, or our built-in approximation. */
  source: 'tracefs' | 'builtin';
}

export class GfpFormatError extends Error {}

const U64 = (1n << 64n) - 1n;

// --- the print fmt's C constant expressions --------------------------------------------------

type Token = { t: 'num'; v: bigint } | { t: 'id'; v: string } | { t: 'str'; v: string } | { t: 'op'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|([A-Za-z_]\w*)|"((?:[^"\\]|\\.)*)"|(<<|>>|->|!=|==|[(){},|&~^+\-*<>?:!.]))/y;
  let i = 0;
  while (i < src.length) {
    if (/^\s*$/.test(src.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(src);
    if (!m) throw new GfpFormatError(`unexpected text in print fmt: ${JSON.stringify(src.slice(i, i + 20))}`);
    i = re.lastIndex;
    if (m[1] !== undefined) out.push({ t: 'num', v: BigInt(m[1]) });
    else if (m[2] !== undefined) out.push({ t: 'id', v: m[2] });
    else if (m[3] !== undefined) out.push({ t: 'str', v: m[3] });
    else out.push({ t: 'op', v: m[4]! });
  }
  return out;
}

const TYPE_WORDS = new Set(['unsigned', 'signed', 'long', 'int', 'short', 'char', 'void', 'gfp_t', '__force', 'const']);

/** Recursive descent over | ^ & << >> + - * ~ casts and parentheses, in 64-bit unsigned. */
class ExprParser {
  readonly #toks: Token[];
  pos = 0;

  constructor(toks: Token[], pos: number) {
    this.#toks = toks;
    this.pos = pos;
  }

  peek(): Token | undefined {
    return this.#toks[this.pos];
  }

  isOp(v: string, at = this.pos): boolean {
    const tok = this.#toks[at];
    return tok?.t === 'op' && tok.v === v;
  }

  expect(v: string): void {
    if (!this.isOp(v)) throw new GfpFormatError(`expected '${v}' in print fmt, found ${JSON.stringify(this.peek()?.v ?? 'end')}`);
    this.pos++;
  }

  expr(): bigint {
    return this.#binary(0);
  }

  static readonly LEVELS: ReadonlyArray<readonly string[]> = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*']];

  #binary(level: number): bigint {
    if (level >= ExprParser.LEVELS.length) return this.#unary();
    let v = this.#binary(level + 1);
    for (;;) {
      const op = ExprParser.LEVELS[level]!.find((o) => this.isOp(o));
      if (!op) return v;
      this.pos++;
      const r = this.#binary(level + 1);
      switch (op) {
        case '|': v |= r; break;
        case '^': v ^= r; break;
        case '&': v &= r; break;
        case '<<': v = (v << r) & U64; break;
        case '>>': v >>= r; break;
        case '+': v = (v + r) & U64; break;
        case '-': v = (v - r) & U64; break;
        case '*': v = (v * r) & U64; break;
      }
    }
  }

  /** A parenthesised run of type words: `( unsigned long)`, `( gfp_t)`, `(void *)`. */
  #castAhead(): number {
    if (!this.isOp('(')) return 0;
    let i = this.pos + 1;
    let words = 0;
    for (;;) {
      const tok = this.#toks[i];
      if (tok?.t === 'id' && TYPE_WORDS.has(tok.v)) { words++; i++; continue; }
      if (tok?.t === 'op' && tok.v === '*') { i++; continue; }
      break;
    }
    return words > 0 && this.isOp(')', i) ? i + 1 - this.pos : 0;
  }

  #unary(): bigint {
    const tok = this.peek();
    if (!tok) throw new GfpFormatError('print fmt ends inside an expression');
    if (tok.t === 'op' && tok.v === '~') { this.pos++; return ~this.#unary() & U64; }
    if (tok.t === 'op' && tok.v === '-') { this.pos++; return -this.#unary() & U64; }
    const cast = this.#castAhead();
    if (cast) { this.pos += cast; return this.#unary(); } // every cast here widens or keeps the value
    if (tok.t === 'op' && tok.v === '(') {
      this.pos++;
      const v = this.expr();
      this.expect(')');
      return v;
    }
    if (tok.t === 'num') { this.pos++; return tok.v & U64; }
    throw new GfpFormatError(`unexpected ${JSON.stringify(tok.v)} in a print fmt flag value`);
  }
}

/**
 * The GFP flag table of a kmem:mm_page_alloc format file (the whole file or its print fmt line).
 * Throws GfpFormatError when the text has no gfp_flags __print_flags list or one it cannot read.
 */
export function parseGfpFormat(formatText: string): GfpFlag[] {
  const start = formatText.search(/__print_flags\(\s*REC->gfp_flags\s*,/);
  if (start < 0) throw new GfpFormatError('no __print_flags(REC->gfp_flags, ...) in the format');
  const toks = tokenize(formatText.slice(start).split('\n')[0]!);
  // __print_flags ( REC - > gfp_flags , "|" , {...}, ... )
  let i = toks.findIndex((t) => t.t === 'str');
  if (i < 0 || !(toks[i + 1]?.t === 'op' && toks[i + 1]!.v === ',')) throw new GfpFormatError('malformed __print_flags header');
  const p = new ExprParser(toks, i + 2);
  const flags: GfpFlag[] = [];
  while (p.isOp('{')) {
    p.pos++;
    const mask = p.expr();
    p.expect(',');
    const name = p.peek();
    if (name?.t !== 'str') break; // the { -1, NULL } / { 0, ((void *)0) } terminator
    p.pos++;
    p.expect('}');
    flags.push({ mask, name: name.v });
    if (!p.isOp(',')) break;
    p.pos++;
  }
  if (flags.length === 0) throw new GfpFormatError('the gfp_flags __print_flags list is empty');
  return flags;
}

// --- decoding ----------------------------------------------------------------------------------

/** The kernel's rendering of a GFP mask with this table ("none" for 0, as the print fmt says). */
export function decodeGfp(value: number | bigint, flags: readonly GfpFlag[]): string {
  let rest = BigInt(value);
  if (rest === 0n) return 'none';
  const parts: string[] = [];
  for (const f of flags) {
    if (rest === 0n) break;
    if ((rest & f.mask) !== f.mask) continue;
    parts.push(f.name);
    rest &= ~f.mask;
  }
  if (rest !== 0n) parts.push(`0x${rest.toString(16)}`);
  return parts.join('|');
}

/** decodeGfp with a cache: a running system sees few distinct masks. */
export class GfpDecoder {
  readonly table: GfpTable;
  readonly #cache = new Map<bigint, string>();

  constructor(table: GfpTable) {
    this.table = table;
  }

  decode(value: number | bigint): string {
    const v = BigInt(value);
    let s = this.#cache.get(v);
    if (s === undefined) {
      s = decodeGfp(v, this.table.flags);
      if (this.#cache.size < 4096) this.#cache.set(v, s);
    }
    return s;
  }
}

// --- the built-in table, for when tracefs cannot be read ------------------------------------------

// Bit numbers of ___GFP_* that held from 5.10 to 6.18; higher bits (ZEROTAGS, SKIP_KASAN*,
// NOLOCKDEP, NO_OBJ_EXT) depend on version and config and are left to the hex remainder.
const BIT = {
  DMA: 0, HIGHMEM: 1, DMA32: 2, MOVABLE: 3, RECLAIMABLE: 4, HIGH: 5, IO: 6, FS: 7, ZERO: 8,
  ATOMIC: 9, DIRECT_RECLAIM: 10, KSWAPD_RECLAIM: 11, WRITE: 12, NOWARN: 13, RETRY_MAYFAIL: 14,
  NOFAIL: 15, NORETRY: 16, MEMALLOC: 17, COMP: 18, NOMEMALLOC: 19, HARDWALL: 20, THISNODE: 21,
  ACCOUNT: 22,
} as const;
type Bit = keyof typeof BIT;

function builtinFlags(version: readonly [number, number]): GfpFlag[] {
  const atLeast = (maj: number, min: number) => version[0] > maj || (version[0] === maj && version[1] >= min);
  const hasAtomic = !atLeast(6, 4); // ___GFP_ATOMIC went away in 6.4
  const m = (...bits: Bit[]) => bits.reduce((a, b) => a | (1n << BigInt(BIT[b])), 0n);
  const RECLAIM = m('DIRECT_RECLAIM', 'KSWAPD_RECLAIM');
  const KERNEL = RECLAIM | m('IO', 'FS');
  const USER = KERNEL | m('HARDWALL');
  const HIGHUSER = USER | m('HIGHMEM');
  const HIGHUSER_MOVABLE = HIGHUSER | m('MOVABLE');
  const TRANSHUGE_LIGHT = (HIGHUSER_MOVABLE | m('COMP', 'NOMEMALLOC', 'NOWARN')) & ~RECLAIM;
  const composites: Array<[string, bigint]> = [
    ['GFP_TRANSHUGE', TRANSHUGE_LIGHT | m('DIRECT_RECLAIM')],
    ['GFP_TRANSHUGE_LIGHT', TRANSHUGE_LIGHT],
    ['GFP_HIGHUSER_MOVABLE', HIGHUSER_MOVABLE],
    ['GFP_HIGHUSER', HIGHUSER],
    ['GFP_USER', USER],
    ['GFP_KERNEL_ACCOUNT', KERNEL | m('ACCOUNT')],
    ['GFP_KERNEL', KERNEL],
    ['GFP_NOFS', RECLAIM | m('IO')],
    ['GFP_ATOMIC', m('HIGH', 'KSWAPD_RECLAIM') | (hasAtomic ? m('ATOMIC') : 0n)],
    ['GFP_NOIO', RECLAIM],
    // 6.1's GFP_NOWAIT is KSWAPD_RECLAIM alone; 6.12's and 6.18's add NOWARN.
    ['GFP_NOWAIT', m('KSWAPD_RECLAIM') | (atLeast(6, 12) ? m('NOWARN') : 0n)],
    ['GFP_DMA', m('DMA')],
  ];
  const single = (b: Bit): [string, bigint] => [`__GFP_${b}`, m(b)];
  // Up to 6.12 (seen on 6.1 and 6.12) the single flags follow a hand-made order; 6.18's table
  // lists them in bit order after __GFP_RECLAIM.
  const rest: Array<[string, bigint]> = atLeast(6, 13)
    ? [['GFP_DMA32', m('DMA32')], ['__GFP_RECLAIM', RECLAIM], ...(Object.keys(BIT) as Bit[]).filter((b) => b !== 'ATOMIC').map(single)]
    : [
      single('HIGHMEM'), ['GFP_DMA32', m('DMA32')], single('HIGH'), ...(hasAtomic ? [single('ATOMIC')] : []),
      ...(['IO', 'FS', 'NOWARN', 'RETRY_MAYFAIL', 'NOFAIL', 'NORETRY', 'COMP', 'ZERO', 'NOMEMALLOC', 'MEMALLOC',
        'HARDWALL', 'THISNODE', 'RECLAIMABLE', 'MOVABLE', 'ACCOUNT', 'WRITE'] as Bit[]).map(single),
      ['__GFP_RECLAIM', RECLAIM], single('DIRECT_RECLAIM'), single('KSWAPD_RECLAIM'),
    ];
  return [...composites, ...rest].map(([name, mask]) => ({ name, mask }));
}

export function builtinGfpTable(version: readonly [number, number]): GfpTable {
  return { flags: builtinFlags(version), source: 'builtin' };
}

/** The running kernel's table from tracefs, or the built-in one (with the reason) when unreadable. */
export function loadGfpTable(tracefs: string | undefined, version: readonly [number, number]): { table: GfpTable; fallbackReason?: string } {
  if (!tracefs) return { table: builtinGfpTable(version), fallbackReason: 'tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)' };
  const path = `${tracefs}/events/kmem/mm_page_alloc/format`;
  try {
    return { table: { flags: parseGfpFormat(readFileSync(path, 'utf8')), source: 'tracefs' } };
  } catch (err) {
    return { table: builtinGfpTable(version), fallbackReason: `${path}: ${(err as Error).message}` };
  }
}

// --- zones and migrate types ---------------------------------------------------------------------

/**
 * The zone an allocation starts from, as gfp_zone() picks it: __GFP_DMA, __GFP_DMA32, or
 * Movable for __GFP_HIGHMEM|__GFP_MOVABLE, else Normal (HighMem for __GFP_HIGHMEM where it
 * exists). Bits 0-3 have had these values in every kernel since 4.x.
 */
export function gfpZoneName(gfp: number | bigint): 'DMA' | 'DMA32' | 'Movable' | 'HighMem' | 'Normal' {
  const g = BigInt(gfp);
  if (g & 1n) return 'DMA';
  if (g & 4n) return 'DMA32';
  if ((g & 2n) && (g & 8n)) return 'Movable';
  if (g & 2n) return 'HighMem';
  return 'Normal';
}

const DEFAULT_MIGRATETYPES = ['Unmovable', 'Movable', 'Reclaimable', 'HighAtomic'];

/** Migrate type names in enum order, from /proc/pagetypeinfo (which lists them so), else the stable first four. */
export function migratetypeNames(pagetypeinfo = '/proc/pagetypeinfo'): string[] {
  try {
    const line = readFileSync(pagetypeinfo, 'utf8').split('\n').find((l) => l.startsWith('Number of blocks type'));
    const names = line?.slice('Number of blocks type'.length).trim().split(/\s+/).filter(Boolean);
    if (names && names.length >= 4) return names;
  } catch { /* not root, or no CONFIG_PROC_FS */ }
  return [...DEFAULT_MIGRATETYPES];
}
