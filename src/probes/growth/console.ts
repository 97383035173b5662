// The -g lines: per interval, the top growing processes, one line each with their lead stack's
// first frame outside the allocator.
import type { RecordExporter } from '../../runtime/exporter.ts';
import { firstCodeFrame } from './report.ts';
import type { GrowthRecord } from './source.ts';

const kib = (b: number) => `${Math.round(b / 1024)}`;
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

export function growthConsole(write: (line: string) => void, prefix: string, topProcesses: number): RecordExporter<GrowthRecord> {
  return {
    onRecord(r) {
      for (const p of r.processes.slice(0, topProcesses)) {
        const lead = p.top[0];
        const site = lead && firstCodeFrame(lead.frames);
        // No frame outside the allocator: its innermost named frame, else where it ran ([anon]: JIT code).
        const named = lead?.frames.find((f) => f.function !== undefined) ?? lead?.frames[0];
        const where = site
          ? `${site.function ?? '?'}${site.file === undefined ? '' : ` ${site.file}${site.line === undefined ? '' : `:${site.line}`}`}`
          : lead && lead.stackId < 0 ? '[stack lost]' : lead && lead.frames.length === 0 ? '[not symbolized]' : named ? `${named.function ?? named.module ?? '?'}${lead?.truncated ? ' [truncated]' : ''}` : '[unknown]';
        const rss = p.rssTrend[p.rssTrend.length - 1] ?? 0;
        const rssDelta = p.rssTrend.length > 1 ? rss - p.rssTrend[p.rssTrend.length - 2]! : 0;
        write(`${prefix}[${clock(r.timeMs)}] growth pid ${p.pid} (${p.executable}): +${kib(p.bytes)} kB, rss ${kib(rss)} kB (${rssDelta >= 0 ? '+' : ''}${kib(rssDelta)}), mapped +${kib(p.mapped)} kB, lead +${kib(lead?.bytes ?? 0)} kB ${where}${p.suspect ? ' [leak suspect]' : ''}`);
      }
    },
  };
}
