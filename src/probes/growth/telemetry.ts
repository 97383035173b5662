// growth as OpenTelemetry: `memwatcher.growth` (bytes a process grew by since the probe
// started, a counter) per process, plus per process shown its lead stack as one more series
// (bounded by probes.growth.top_processes); a `memory.growth` span per leak suspect.
import { context, trace, type Attributes } from '@opentelemetry/api';
import type { RecordExporter } from '../../runtime/exporter.ts';
import { formatFrameStacktrace } from '../../symbolize/frame.ts';
import { processAttributes } from '../../telemetry/attributes.ts';
import type { ExportContext } from '../../telemetry/export-context.ts';
import { ATTR, METRIC, SPAN, UNIT } from '../../telemetry/semconv.ts';
import type { GrowthConfig } from './config.ts';
import { firstCodeFrame, type GrowthStack, type ProcessGrowth } from './report.ts';
import type { GrowthRecord } from './source.ts';

function codeAttributes(s: GrowthStack): Attributes {
  const a: Attributes = {};
  const site = firstCodeFrame(s.frames);
  if (site?.function !== undefined) a[ATTR.CODE_FUNCTION_NAME] = site.function;
  if (site?.file !== undefined) a[ATTR.CODE_FILE_PATH] = site.file;
  if (site?.line !== undefined) a[ATTR.CODE_LINE_NUMBER] = site.line;
  return a;
}

export function stacktrace(s: GrowthStack): string {
  const lines = s.frames.map(formatFrameStacktrace);
  if (s.truncated) lines.push('[truncated]');
  return lines.join('\n');
}

export function growthMetrics(ctx: ExportContext<GrowthConfig>): RecordExporter<GrowthRecord> {
  const totals = new Map<number, { p: ProcessGrowth }>();
  let leads: Array<{ attrs: Attributes; value: number }> = [];
  ctx.meter.createObservableCounter(METRIC.GROWTH, {
    unit: UNIT.BYTES,
    description: 'Resident bytes the process grew by since the probe started: faults that gave it a page (absent-page faults but code, copy-on-write), sampled one in probes.growth.fault_sample and scaled; with memwatcher.growth.stack_id: of that, its lead stack\'s',
  }).addCallback((result) => {
    for (const { p } of totals.values()) result.observe(p.totalBytes, processAttributes(p.pid, p.executable, p.container));
    for (const l of leads) result.observe(l.value, l.attrs);
  });
  return {
    onRecord(r) {
      for (const p of r.processes) totals.set(p.pid, { p });
      // An idle process keeps its series (its total stands); one that ended loses it.
      for (const pid of r.ended) totals.delete(pid);
      leads = r.processes.slice(0, ctx.config.top_processes).flatMap((p) => {
        const s = p.top[0];
        if (!s || s.stackId < 0) return [];
        return [{ value: s.totalBytes, attrs: { ...processAttributes(p.pid, p.executable, p.container), [ATTR.GROWTH_STACK_ID]: s.stackId, ...codeAttributes(s) } }];
      });
    },
  };
}

export function growthSpans(ctx: ExportContext<GrowthConfig>): RecordExporter<GrowthRecord> {
  const tracer = ctx.tracer;
  /** One span per suspect episode: a process already reported is not again until it stops being one. */
  const reported = new Set<number>();
  return {
    onRecord(r) {
      if (!tracer) return;
      const now = new Set(r.processes.filter((p) => p.suspect).map((p) => p.pid));
      for (const pid of reported) if (!now.has(pid)) reported.delete(pid);
      // An unsymbolized report (the symbolizer still busy: a slow first start) leaves its new
      // suspects to the next report, or the episode's one span would name no function.
      if (!r.symbolized) return;
      for (const p of r.processes) {
        if (!p.suspect || reported.has(p.pid)) continue;
        reported.add(p.pid);
        const lead = p.top[0];
        const attributes: Attributes = {
          ...processAttributes(p.pid, p.executable, p.container),
          [ATTR.GROWTH_BYTES]: p.bytes,
          [ATTR.GROWTH_MAPPED]: p.mapped,
          [ATTR.GROWTH_RSS_TREND]: p.rssTrend,
          [ATTR.GROWTH_INTERVALS]: ctx.config.suspect_intervals,
          [ATTR.GROWTH_FAULT_SAMPLE]: r.faultSample,
          ...(lead ? { [ATTR.GROWTH_STACK_ID]: lead.stackId, [ATTR.CODE_STACKTRACE]: stacktrace(lead), ...codeAttributes(lead) } : {}),
        };
        const root = tracer.startSpan(SPAN.MEMORY_GROWTH, { startTime: r.timeMs - r.intervalMs * ctx.config.suspect_intervals, attributes });
        const parent = trace.setSpan(context.active(), root);
        for (const s of p.top) {
          tracer.startSpan(SPAN.MEMORY_GROWTH_STACK, {
            startTime: r.timeMs,
            attributes: {
              ...processAttributes(p.pid, p.executable, p.container),
              [ATTR.GROWTH_STACK_ID]: s.stackId,
              [ATTR.GROWTH_BYTES]: s.bytes,
              [ATTR.GROWTH_MAPPED]: s.mapped,
              
              [ATTR.CODE_STACKTRACE]: stacktrace(s),
              ...codeAttributes(s),
            },
          }, parent).end(r.timeMs);
        }
        root.end(r.timeMs);
      }
    },
  };
}
