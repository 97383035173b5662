// Per-program cost as the kernel measures it: with kernel.bpf_stats_enabled=1 every program
// run is timed, and `bpftool prog show` reports run_time_ns and run_cnt per program. Stats
// cost a little themselves (two clock reads per run), so they are on only for that pass.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/** Turns statistics on; returns the function that puts the previous setting back. */
export function enableBpfStats(): () => void {
  const before = readFileSync(SYSCTL, 'utf8').trim();
  writeFileSync(SYSCTL, '1');
  return () => writeFileSync(SYSCTL, before);
}

export interface ProgStats {
  id: number;
  name: string;
  type: string;
  runCnt: number;
  runTimeNs: number;
}

/** Ids of the BPF programs process `pid` holds, from its fds' fdinfo (program and link fds
 * both name a prog_id; bpftool's own pid column needs a bpftool built with that feature). */
export function programIdsOf(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return ids;
}

/** Kernel statistics of the programs process `pid` holds. */
export function programsOf(pid: number): ProgStats[] {
  const ids = programIdsOf(pid);
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{
    id: number; name?: string; type: string; run_time_ns?: number; run_cnt?: number;
  }>;
  return progs
    .filter((p) => ids.has(p.id))
    .map((p) => ({ id: p.id, name: p.name ?? `#${p.id}`, type: p.type, runCnt: p.run_cnt ?? 0, runTimeNs: p.run_time_ns ?? 0 }));
}

const HOOK_TYPES = new Set(['tracing', 'raw_tracepoint', 'tracepoint', 'kprobe', 'perf_event']);

/** Names of the tracing programs loaded on the host right now (on a shared host, others'
 * probes on sched_switch or page faults would be in every "no probe" baseline too). */
export function loadedHookPrograms(): string[] {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name?: string; type: string }>;
  return progs.filter((p) => HOOK_TYPES.has(p.type)).map((p) => p.name ?? `#${p.id}`);
}
