// The byte layouts of bpf/growth.h.
import { struct, u32, u64 } from '../../runtime/layout.ts';

export const STACK_LOST = 0xffffffff;
export const GROWTH_KEY = struct({ tgid: u32, stackId: u32 }, 'growth_key');
export const GROWTH_VAL = struct({ mapped: u64, faulted: u64, events: u64, truncated: u64 }, 'growth_val');
export const GROWTH_PROC = struct({ grown: u64, unmapped: u64, dropped: u64 }, 'growth_proc');
export const GROWTH_LAYOUTS = [GROWTH_KEY, GROWTH_VAL, GROWTH_PROC];
export const GROWTH_KEY_SIZE = GROWTH_KEY.size;
export const GROWTH_VAL_SIZE = GROWTH_VAL.size;
export const GROWTH_PROC_SIZE = GROWTH_PROC.size;

export interface GrowthCounters {
  tgid: number;
  stackId: number;
  mapped: number;
  faulted: number;
  events: number;
  truncated: number;
}

export function decodeGrowth(key: Buffer, value: Buffer): GrowthCounters {
  if (key.length < GROWTH_KEY_SIZE || value.length < GROWTH_VAL_SIZE) throw new Error(`growth entry of ${key.length}/${value.length} bytes, expected ${GROWTH_KEY_SIZE}/${GROWTH_VAL_SIZE}`);
  return { ...GROWTH_KEY.read(key, 0), ...GROWTH_VAL.read(value, 0) };
}

export interface ProcCounters {
  tgid: number;
  grown: number;
  unmapped: number;
  dropped: number;
}

export function decodeProc(key: Buffer, value: Buffer): ProcCounters {
  if (key.length < 4 || value.length < GROWTH_PROC_SIZE) throw new Error(`procs entry of ${key.length}/${value.length} bytes, expected 4/${GROWTH_PROC_SIZE}`);
  return { tgid: key.readUInt32LE(0), ...GROWTH_PROC.read(value, 0) };
}

export function tgidKey(pid: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(pid);
  return b;
}
