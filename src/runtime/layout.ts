// The C structs the kernel side hands us, declared once: each field's type gives its size and
// alignment, offsets follow the C rules (natural alignment, the struct padded to its largest
// member), the same declaration decodes, and at start-up each named struct is checked against
// the BPF object's own BTF (layout-check.ts), so a header changed without its reader fails
// before the first record is misread.

export interface Layout<T> {
  size: number;
  align: number;
  read(buf: Buffer, off: number): T;
}

function prim<T>(size: number, read: (buf: Buffer, off: number) => T): Layout<T> {
  return { size, align: size, read };
}

export const u16 = prim(2, (b, o) => b.readUInt16LE(o));
export const s16 = prim(2, (b, o) => b.readInt16LE(o));
export const u32 = prim(4, (b, o) => b.readUInt32LE(o));
export const s32 = prim(4, (b, o) => b.readInt32LE(o));
/** u64 as a number: page counts, byte counts and kernfs ids stay far below 2^53. */
export const u64 = prim(8, (b, o) => Number(b.readBigUInt64LE(o)));
export const s64 = prim(8, (b, o) => Number(b.readBigInt64LE(o)));
/** u64 kept exact (timestamps in ns). */
export const u64n = prim(8, (b, o) => b.readBigUInt64LE(o));

/** A NUL-terminated char[n]. */
export function chars(n: number): Layout<string> {
  return {
    size: n,
    align: 1,
    read(b, o) {
      const s = b.subarray(o, o + n);
      const end = s.indexOf(0);
      return s.subarray(0, end < 0 ? n : end).toString('utf8');
    },
  };
}

export function array<T>(of: Layout<T>, n: number): ArrayLayout<T> {
  return {
    of,
    length: n,
    size: of.size * n,
    align: of.align,
    read(b, o) {
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(of.read(b, o + i * of.size));
      return out;
    },
  };
}

type Decoded<F> = { [K in keyof F]: F[K] extends Layout<infer T> ? T : never };

export interface StructLayout<F extends Record<string, Layout<unknown>>> extends Layout<Decoded<F>> {
  offsets: { [K in keyof F]: number };
  fields: F;
  /** The C struct's name, for the BTF check; field names are its members' in camelCase. */
  cName?: string;
}

export interface ArrayLayout<T> extends Layout<T[]> {
  of: Layout<T>;
  length: number;
}

export function struct<F extends Record<string, Layout<unknown>>>(fields: F, cName?: string): StructLayout<F> {
  let off = 0;
  let align = 1;
  const offsets = {} as Record<string, number>;
  for (const [name, f] of Object.entries(fields)) {
    off = Math.ceil(off / f.align) * f.align;
    offsets[name] = off;
    off += f.size;
    align = Math.max(align, f.align);
  }
  const size = Math.ceil(off / align) * align;
  return {
    size,
    align,
    offsets: offsets as StructLayout<F>['offsets'],
    fields,
    ...(cName ? { cName } : {}),
    read(b, o) {
      const out = {} as Record<string, unknown>;
      for (const [name, f] of Object.entries(fields)) out[name] = f.read(b, o + offsets[name]!);
      return out as Decoded<F>;
    },
  };
}
