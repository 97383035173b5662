// The byte layouts of bpf/memleak.h: map keys and values, and the trace-mode record.
import { DecodeError, EVENT_TYPE, expectRecord, HEADER_SIZE } from '../../runtime/record.ts';

export const STACK_DEPTH = 127;
export const STACK_LOST = -1;

/** enum memleak_kind, by value. */
export const KINDS = [
  'malloc', 'calloc', 'realloc', 'reallocarray', 'posix_memalign', 'aligned_alloc', 'memalign',
  'valloc', 'pvalloc', 'mmap', 'mremap', 'free', 'munmap', 'kmalloc', 'kmem_cache', 'page',
  'new', 'delete', 'mallocx', 'rallocx', 'xallocx', 'dallocx',
] as const;
export type AllocKind = (typeof KINDS)[number];

export const TARGET_STATE = { TRACE: 1, ARM_EXEC: 2, EXECED: 3 } as const;

export const ALLOC_KEY_SIZE = 16;
export const ALLOC_INFO_SIZE = 24;
export const STACK_KEY_SIZE = 8;
export const STACK_TOTALS_SIZE = 16;
export const MEMLEAK_RECORD_SIZE = HEADER_SIZE + 32;

export function tgidKey(tgid: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(tgid);
  return b;
}

export function u32Value(v: number): Buffer {
  return tgidKey(v);
}

export interface StackTotals {
  tgid: number;
  stackId: number;
  bytes: number;
  allocations: number;
}

export function decodeStackTotals(key: Buffer, value: Buffer): StackTotals {
  return {
    tgid: key.readUInt32LE(0),
    stackId: key.readInt32LE(4),
    // Atomic adds of negative deltas: read as signed so a transient race never shows 2^64.
    bytes: Number(value.readBigInt64LE(0)),
    allocations: Number(value.readBigInt64LE(8)),
  };
}

export function stackKey(tgid: number, stackId: number): Buffer {
  const b = Buffer.alloc(STACK_KEY_SIZE);
  b.writeUInt32LE(tgid, 0);
  b.writeInt32LE(stackId, 4);
  return b;
}

export interface OutstandingAlloc {
  tgid: number;
  addr: bigint;
  size: number;
  tsNs: bigint;
  stackId: number;
}

export function decodeAlloc(key: Buffer, value: Buffer): OutstandingAlloc {
  return {
    tgid: key.readUInt32LE(0),
    addr: key.readBigUInt64LE(8),
    size: Number(value.readBigUInt64LE(0)),
    tsNs: value.readBigUInt64LE(8),
    stackId: value.readInt32LE(16),
  };
}

/** bpf/unwind.h struct unwind_stack: 127 pcs, depth, flags. */
export const USER_STACK_SIZE = STACK_DEPTH * 8 + 8;

/** A user_stacks value: its pcs, innermost first, and whether the walk stopped short. */
export function decodeUserStack(value: Buffer): { ips: bigint[]; truncated: boolean } {
  if (value.length < USER_STACK_SIZE) throw new DecodeError(`user stack of ${value.length} bytes, expected ${USER_STACK_SIZE}`);
  const depth = Math.min(value.readUInt32LE(STACK_DEPTH * 8), STACK_DEPTH);
  const ips: bigint[] = [];
  for (let i = 0; i < depth; i++) ips.push(value.readBigUInt64LE(i * 8));
  return { ips, truncated: (value.readUInt32LE(STACK_DEPTH * 8 + 4) & 1) !== 0 };
}

export interface MemleakTraceEvent {
  kind: 'trace';
  tsNs: bigint;
  tgid: number;
  tid: number;
  op: 'alloc' | 'free';
  call: AllocKind | 'unknown';
  addr: bigint;
  size: number;
  stackId: number;
}

export function decodeTraceEvent(buf: Buffer): MemleakTraceEvent {
  const h = expectRecord(buf, EVENT_TYPE.MEMLEAK, MEMLEAK_RECORD_SIZE, 'memleak');
  const o = HEADER_SIZE;
  const kind = buf.readUInt16LE(o + 28);
  return {
    kind: 'trace',
    tsNs: h.tsNs,
    tgid: buf.readUInt32LE(o),
    tid: buf.readUInt32LE(o + 4),
    addr: buf.readBigUInt64LE(o + 8),
    size: Number(buf.readBigUInt64LE(o + 16)),
    stackId: buf.readInt32LE(o + 24),
    call: KINDS[kind] ?? 'unknown',
    op: buf.readUInt16LE(o + 30) === 2 ? 'free' : 'alloc',
  };
}
