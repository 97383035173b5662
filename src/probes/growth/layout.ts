// The byte layouts of bpf/growth.h.
export const STACK_LOST = 0xffffffff;
export const GROWTH_KEY_SIZE = 8;
export const GROWTH_VAL_SIZE = 32;
export const GROWTH_PROC_SIZE = 24;

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
  return {
    tgid: key.readUInt32LE(0),
    stackId: key.readUInt32LE(4),
    mapped: Number(value.readBigUInt64LE(0)),
    faulted: Number(value.readBigUInt64LE(8)),
    events: Number(value.readBigUInt64LE(16)),
    truncated: Number(value.readBigUInt64LE(24)),
  };
}

export interface ProcCounters {
  tgid: number;
  grown: number;
  unmapped: number;
  dropped: number;
}

export function decodeProc(key: Buffer, value: Buffer): ProcCounters {
  if (key.length < 4 || value.length < GROWTH_PROC_SIZE) throw new Error(`procs entry of ${key.length}/${value.length} bytes, expected 4/${GROWTH_PROC_SIZE}`);
  return {
    tgid: key.readUInt32LE(0),
    grown: Number(value.readBigUInt64LE(0)),
    unmapped: Number(value.readBigUInt64LE(8)),
    dropped: Number(value.readBigUInt64LE(16)),
  };
}

export function tgidKey(pid: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(pid);
  return b;
}
