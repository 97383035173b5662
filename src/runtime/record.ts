// Shared checks for records read from the kernel: every record starts with mw_event_header
// (bpf/common.h) and is rejected, not misread, when its type or size is not what we expect.
import { chars, struct, u16, u32, u64, u64n } from './layout.ts';

export const EVENT_HEADER = struct({ type: u16, size: u16, _pad: u32, tsNs: u64n }, 'mw_event_header');
export const HEADER_SIZE = EVENT_HEADER.size;
/** One zone (bpf/common.h), as bpf/kernel_mem.bpf.h reads it: raw watermarks, boost, pages. */
export const MW_ZONE = struct({
  name: chars(8), wmarkMin: u64, wmarkLow: u64, wmarkHigh: u64, boost: u64, free: u64, managed: u64, present: u64, spanned: u64,
}, 'mw_zone');

/** A zone as /proc/zoneinfo shows it: the watermarks there are the raw ones plus the boost. */
export function zoneInfo(z: ReturnType<typeof MW_ZONE.read>) {
  const { name, boost, free, managed, present, spanned } = z;
  return { name, min: z.wmarkMin + boost, low: z.wmarkLow + boost, high: z.wmarkHigh + boost, boost, free, managed, present, spanned };
}

export const EVENT_TYPE = {
  SYSSTAT: 1,
  PROCSTAT: 2,
  PROCSTAT_EXIT: 3,
  PAF: 4,
  PR: 5,
  MEMLEAK: 6,
  OOM: 7,
} as const;

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export interface RecordHeader {
  type: number;
  size: number;
  tsNs: bigint;
}

export function readHeader(buf: Buffer): RecordHeader {
  if (buf.length < HEADER_SIZE) throw new DecodeError(`record of ${buf.length} bytes is shorter than its header`);
  return { type: buf.readUInt16LE(0), size: buf.readUInt16LE(2), tsNs: buf.readBigUInt64LE(8) };
}

/** Header check for a fixed-size record of one type. */
export function expectRecord(buf: Buffer, type: number, size: number, what: string): RecordHeader {
  const h = readHeader(buf);
  if (h.type !== type) throw new DecodeError(`${what}: record type ${h.type}, expected ${type}`);
  if (h.size !== size || buf.length < size) {
    throw new DecodeError(`${what}: record of ${buf.length} bytes says ${h.size}, this reader expects ${size} (BPF object and reader out of step: rebuild with npm run build:bpf)`);
  }
  return h;
}

/** NUL-terminated string from a fixed-size char array. */
export function cString(buf: Buffer, offset: number, length: number): string {
  const slice = buf.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return slice.subarray(0, end < 0 ? slice.length : end).toString('utf8');
}

/** The addresses of a stack map value (BPF_MAP_TYPE_STACK_TRACE), innermost first, up to the first 0. */
export function decodeStack(value: Buffer): bigint[] {
  const out: bigint[] = [];
  for (let off = 0; off + 8 <= value.length; off += 8) {
    const a = value.readBigUInt64LE(off);
    if (a === 0n) break;
    out.push(a);
  }
  return out;
}
