// The -l report as the original tool printed it: per stack a `stack_id=0x.. with outstanding
// allocations: total_size=N nr_allocs=N` line, then one frame a line
// (`ADDRESS: function @ 0xstart+0xoff file:line`); and, with -t, one line per call.
import type { RecordExporter } from '../../runtime/exporter.ts';
import { formatFrameConsole } from '../../symbolize/frame.ts';
import { STACK_LOST, type MemleakTraceEvent } from './layout.ts';
import { formatAllocators, type MemleakReport } from './report.ts';
import type { MemleakRecord } from './source.ts';

function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

/** `allocators`: also say where each allocator function was attached (first report, -v). */
export function formatReport(r: MemleakReport, allocators = false): string[] {
  const who = r.kernel ? 'kernel' : `pid ${r.pid} (${r.executable || '?'})`;
  const age = r.minAgeMs > 0 ? ` older than ${r.minAgeMs} ms` : '';
  const end = r.ended === 'exited' ? ', process exited: final report' : r.ended === 'exec' ? ', process exec\'d another program: final report' : '';
  const lines = [
    `[${clock(r.timeMs)}] ${who}: top ${r.top.length} of ${r.totals.stacks} stacks with outstanding allocations${age}: total_size=${r.totals.bytes} nr_allocs=${r.totals.allocations}${end}`,
  ];
  if (allocators && r.allocators.length > 0) lines.push(`allocator: ${formatAllocators(r.allocators)}`);
  for (const s of r.top) {
    lines.push(`stack_id=0x${(s.stackId >>> 0).toString(16)} with outstanding allocations: total_size=${s.bytes} nr_allocs=${s.allocations}`);
    if (s.stackId === STACK_LOST) lines.push(`[stack not captured: see the stack-map collisions and failures below]`);
    for (const f of s.frames) lines.push(...formatFrameConsole(f).split('\n')); // inlined calls: lines of their own
    if (s.truncated) lines.push('[stack cut short: the callers of the last frame are unknown (code without an unwind table yet)]');
  }
  const st = r.stats;
  if (st.stackCollisions > 0 || st.stackFailures > 0) {
    lines.push(`memleak: ${st.stackCollisions} stack-map collisions, ${st.stackFailures} stack capture failures so far (raise --memleak-stack-map-size against collisions)`);
  }
  if (st.stackTruncated > 0) lines.push(`memleak: ${st.stackTruncated} allocations with a user stack cut short so far (JIT or anonymous code, a library loaded since the last maps re-read, CFI not evaluated, over 127 frames)`);
  if (st.allocsDropped > 0) lines.push(`memleak: ${st.allocsDropped} allocations not tracked: the allocation map is full (probes.memleak.max_allocations)`);
  return lines;
}

export function formatTraceEvent(e: MemleakTraceEvent): string {
  const who = `${e.tgid}/${e.tid}`;
  const addr = `0x${e.addr.toString(16)}`;
  return e.op === 'alloc'
    ? `${who} ${e.call}(${e.size}) = ${addr} stack_id=0x${(e.stackId >>> 0).toString(16)}`
    : `${who} ${e.call}(${addr}) frees ${e.size} bytes`;
}

export function memleakConsole(write: (line: string) => void, prefix: string, verbose = false): RecordExporter<MemleakRecord> {
  // One line each: a newline in a name (comm) is the sink's to neutralise, never a line break.
  const out = (line: string) => write(prefix + line);
  const shown = new Set<number>();
  // -t lines lost to a full ring (the kernel's count, one for the whole object): said with each
  // report, as a user reading the trace would otherwise take the gaps for calls not made.
  let lostSaid = 0;
  return {
    onRecord(r) {
      if (r.kind === 'trace') {
        out(formatTraceEvent(r));
        return;
      }
      const first = !shown.has(r.pid);
      shown.add(r.pid);
      for (const line of formatReport(r, first || verbose)) out(line);
      const lost = r.stats.eventsDropped - lostSaid;
      if (lost > 0) {
        lostSaid = r.stats.eventsDropped;
        out(`memleak: ${lost} calls not shown since the last report (${r.stats.eventsDropped} in all): the trace ring buffer was full, the reader fell behind; the report's totals still count them (narrow -t with --memleak-min-size or --memleak-sample-rate)`);
      }
    },
  };
}
