// The byte layouts of bpf/memleak.h: map keys and values, and the trace-mode record.
import { array, s32, s64, struct, u16, u32, u64, u64n } from '../../runtime/layout.ts';
import { DecodeError, EVENT_HEADER, EVENT_TYPE, expectRecord } from '../../runtime/record.ts';

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

export const ALLOC_KEY = struct({ tgid: u32, _pad: u32, addr: u64n }, 'memleak_alloc_key');
export const ALLOC_INFO = struct({ size: u64, tsNs: u64n, stackId: s32, _pad: u32 }, 'memleak_alloc_info');
export const STACK_KEY = struct({ tgid: u32, stackId: s32 }, 'memleak_stack_key');
// Atomic adds of negative deltas: read as signed so a transient race never shows 2^64.
export const STACK_TOTALS = struct({ bytes: s64, allocs: s64 }, 'memleak_stack_totals');
export const TRACE_EVENT = struct({
  hdr: EVENT_HEADER, tgid: u32, tid: u32, addr: u64n, size: u64, stackId: s32, kind: u16, op: u16,
}, 'memleak_event');
/** bpf/unwind.h: the pcs innermost first, how many, and whether the walk stopped short. */
export const USER_STACK = struct({ pcs: array(u64n, STACK_DEPTH), depth: u32, flags: u32 }, 'unwind_stack');
export const MEMLEAK_LAYOUTS = [ALLOC_KEY, ALLOC_INFO, STACK_KEY, STACK_TOTALS, TRACE_EVENT, USER_STACK];

export const STACK_KEY_SIZE = STACK_KEY.size;
export const MEMLEAK_RECORD_SIZE = TRACE_EVENT.size;

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
  const k = STACK_KEY.read(key, 0);
  const v = STACK_TOTALS.read(value, 0);
  return { tgid: k.tgid, stackId: k.stackId, bytes: v.bytes, allocations: v.allocs };
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
  const k = ALLOC_KEY.read(key, 0);
  const v = ALLOC_INFO.read(value, 0);
  return { tgid: k.tgid, addr: k.addr, size: v.size, tsNs: v.tsNs, stackId: v.stackId };
}

/** A user_stacks value: its pcs, innermost first, and whether the walk stopped short. */
export function decodeUserStack(value: Buffer): { ips: bigint[]; truncated: boolean } {
  if (value.length < USER_STACK.size) throw new DecodeError(`user stack of ${value.length} bytes, expected ${USER_STACK.size}`);
  const s = USER_STACK.read(value, 0);
  return { ips: s.pcs.slice(0, Math.min(s.depth, STACK_DEPTH)), truncated: (s.flags & 1) !== 0 };
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
  expectRecord(buf, EVENT_TYPE.MEMLEAK, MEMLEAK_RECORD_SIZE, 'memleak');
  const e = TRACE_EVENT.read(buf, 0);
  return {
    kind: 'trace',
    tsNs: e.hdr.tsNs,
    tgid: e.tgid,
    tid: e.tid,
    addr: e.addr,
    size: e.size,
    stackId: e.stackId,
    call: KINDS[e.kind] ?? 'unknown',
    op: e.op === 2 ? 'free' : 'alloc',
  };
}
