// The -l report as the seed printed it: per stack a `stack_id=0x.. with outstanding
// allocations: total_size=N nr_allocs=N` line, then one frame a line
// (`ADDRESS: function @ 0xstart+0xoff file:line`); and, with -t, one line per call.
import type { MemleakRecord, MemleakReport } from '../probes/memleak/index.ts';
import { STACK_LOST, type MemleakTraceEvent } from '../probes/memleak/layout.ts';
import { formatFrameSeed } from '../symbolize/frame.ts';
import type { ConsoleBinding } from './sink.ts';

function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

export function formatReport(r: MemleakReport): string[] {
  const who = r.kernel ? 'kernel' : `pid ${r.pid} (${r.executable || '?'})`;
  const age = r.minAgeMs > 0 ? ` older than ${r.minAgeMs} ms` : '';
  const end = r.ended === 'exited' ? ', process exited: final report' : r.ended === 'exec' ? ', process exec\'d another program: final report' : '';
  const lines = [
    `[${clock(r.timeMs)}] ${who}: top ${r.top.length} of ${r.totals.stacks} stacks with outstanding allocations${age}: total_size=${r.totals.bytes} nr_allocs=${r.totals.allocations}${end}`,
  ];
  for (const s of r.top) {
    lines.push(`stack_id=0x${(s.stackId >>> 0).toString(16)} with outstanding allocations: total_size=${s.bytes} nr_allocs=${s.allocations}`);
    // -1 (STACK_LOST); user stack ids are 32-bit hashes, negative as often as not.
    if (s.stackId === STACK_LOST) lines.push(`[stack not captured: see the stack-map collisions and failures below]`);
    for (const f of s.frames) lines.push(formatFrameSeed(f));
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

export function memleakConsole(write: (line: string) => void, prefix: string): ConsoleBinding<MemleakRecord> {
  const out = (text: string) => {
    for (const line of text.split('\n')) write(prefix + line);
  };
  return {
    onRecord(r) {
      if (r.kind === 'trace') out(formatTraceEvent(r));
      else for (const line of formatReport(r)) out(line);
    },
  };
}
