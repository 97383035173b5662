// Memory pressure without BPF: PSI for the host (/proc/pressure/memory) and per cgroup v2
// (memory.pressure), and the memcg event counters (memory.events on v2; memory.oom_control and
// memory.failcnt on v1). Totals only: exporters turn them into counters.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerFromCgroupPath } from '../../host/container.ts';
import { walkCgroups, type CgroupMounts } from './cgroup.ts';
import type { CgroupPressure, MemcgEvents, OomPressure, PressureTotals } from './record.ts';

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** PSI text ("some avg10=… total=N\nfull …"): totals in seconds; undefined when no "some" line. */
export function parsePsi(text: string): PressureTotals | undefined {
  let some: number | undefined;
  let full: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^(some|full)\s.*\btotal=(\d+)/.exec(line);
    if (!m) continue;
    const seconds = Number(m[2]) / 1e6;
    if (m[1] === 'some') some = seconds;
    else full = seconds;
  }
  if (some === undefined) return undefined;
  return full === undefined ? { someSeconds: some } : { someSeconds: some, fullSeconds: full };
}

const V2_EVENTS = ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill'] as const;

/** memory.events (v2): "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0". */
export function parseMemoryEvents(text: string): MemcgEvents {
  const out: MemcgEvents = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if ((V2_EVENTS as readonly string[]).includes(k ?? '') && v !== undefined && /^\d+$/.test(v)) out[k as keyof MemcgEvents] = Number(v);
  }
  return out;
}

/** memory.oom_control (v1): "oom_kill_disable 0\nunder_oom 0\noom_kill 1" (oom_kill since 4.13). */
export function parseOomControl(text: string): { underOom?: boolean; oomKill?: number } {
  const out: { underOom?: boolean; oomKill?: number } = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (v === undefined || !/^\d+$/.test(v)) continue;
    if (k === 'under_oom') out.underOom = v !== '0';
    if (k === 'oom_kill') out.oomKill = Number(v);
  }
  return out;
}

export function readHostPressure(path = '/proc/pressure/memory'): PressureTotals | undefined {
  const text = readText(path);
  return text === undefined ? undefined : parsePsi(text);
}

/** One cgroup v2 directory: its memory.pressure, and memory.events where the memory controller is on. */
export function readCgroupV2(root: string, rel: string): CgroupPressure | undefined {
  const dir = join(root, rel);
  const psi = readText(join(dir, 'memory.pressure'));
  const events = readText(join(dir, 'memory.events'));
  if (psi === undefined && events === undefined) return undefined;
  const out: CgroupPressure = { path: rel, version: 2, container: containerFromCgroupPath(rel) };
  const p = psi === undefined ? undefined : parsePsi(psi);
  if (p) out.pressure = p;
  if (events !== undefined) out.events = parseMemoryEvents(events);
  return out;
}

/** One cgroup v1 memory directory: oom_kill and under_oom, and the limit hit count. */
export function readCgroupV1(root: string, rel: string): CgroupPressure | undefined {
  const dir = join(root, rel);
  const oc = readText(join(dir, 'memory.oom_control'));
  const failcnt = readText(join(dir, 'memory.failcnt'));
  if (oc === undefined && failcnt === undefined) return undefined;
  const out: CgroupPressure = { path: rel, version: 1, container: containerFromCgroupPath(rel) };
  if (oc !== undefined) {
    const { underOom, oomKill } = parseOomControl(oc);
    if (oomKill !== undefined) out.events = { oom_kill: oomKill };
    if (underOom !== undefined) out.underOom = underOom;
  }
  if (failcnt !== undefined && /^\d+\s*$/.test(failcnt)) out.failcnt = Number(failcnt);
  return out;
}

export interface PressureReaderOptions {
  mounts: CgroupMounts;
  /** Cgroups read per interval, at most (per hierarchy); the rest are left out. */
  maxCgroups: number;
  hostPath?: string;
}

/** Reads the host and every cgroup (up to maxCgroups per hierarchy) into one record. */
export class PressureReader {
  readonly #opts: PressureReaderOptions;

  constructor(opts: PressureReaderOptions) {
    this.#opts = opts;
  }

  read(nowMs = Date.now()): OomPressure {
    const { mounts, maxCgroups } = this.#opts;
    const cgroups: CgroupPressure[] = [];
    if (mounts.unified) {
      for (const rel of walkCgroups(mounts.unified, maxCgroups)) {
        const c = readCgroupV2(mounts.unified, rel);
        if (c) cgroups.push(c);
      }
    }
    if (mounts.memoryV1) {
      for (const rel of walkCgroups(mounts.memoryV1, maxCgroups)) {
        const c = readCgroupV1(mounts.memoryV1, rel);
        if (c) cgroups.push(c);
      }
    }
    const host = readHostPressure(this.#opts.hostPath);
    return { kind: 'pressure', tsMs: nowMs, ...(host ? { host } : {}), cgroups };
  }
}
