// /proc/meminfo: the kernel's own host-wide memory accounting, as the Collector's hostmetrics
// receiver reads it. Free pages, buffers and the page cache total are not per-node counters a
// BPF program can read (Buffers walks the block devices), so the system.memory.* metrics come
// from here.
import { readFileSync } from 'node:fs';

/** "Key:   123 kB" lines as bytes (lines without a kB unit, such as HugePages_Total, are left out). */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)\s*kB$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * 1024;
  }
  return out;
}

export interface SystemMemory {
  /** MemTotal: usable RAM, what the states below add up to. */
  total: number;
  /** MemAvailable: what can be allocated without swapping, reclaimable memory counted. */
  available: number | undefined;
  /** Bytes by system.memory.state; used is what the other three leave of MemTotal. */
  states: { used: number; free: number; cached: number; buffers: number };
}

/** The system.memory.* view of /proc/meminfo, or undefined when it lacks MemTotal or MemFree. */
export function systemMemory(meminfo: Record<string, number>): SystemMemory | undefined {
  const total = meminfo.MemTotal;
  const free = meminfo.MemFree;
  if (total === undefined || free === undefined) return undefined;
  const buffers = meminfo.Buffers ?? 0;
  const cached = meminfo.Cached ?? 0;
  return {
    total,
    available: meminfo.MemAvailable,
    states: { used: Math.max(0, total - free - buffers - cached), free, cached, buffers },
  };
}

export function readSystemMemory(path = '/proc/meminfo'): SystemMemory | undefined {
  try {
    return systemMemory(parseMeminfo(readFileSync(path, 'utf8')));
  } catch {
    return undefined; // no /proc mounted: no system.memory.* data points, the probe goes on
  }
}
