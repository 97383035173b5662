// --memleak-pprof FILE: the outstanding allocations of every traced process as one gzipped
// pprof profile (inuse_space, inuse_objects), rewritten after each report.
import { writePprof } from '../../symbolize/pprof.ts';
import type { MemleakReport } from './report.ts';

/** Writes the stacks of `reports` (each report's `all`, else its `top`). */
export async function writeProfile(path: string, reports: readonly MemleakReport[]): Promise<void> {
  const samples = reports.flatMap((r) => (r.all ?? r.top).map((s) => ({
    frames: s.frames,
    bytes: s.bytes,
    allocations: s.allocations,
    labels: { pid: r.pid, executable: r.executable },
  })));
  await writePprof(path, samples, { comments: [`mem-watcher memleak report ${reports[0]?.seq ?? 0}`] });
}
