// memleak as OpenTelemetry: outstanding bytes and allocations per process (UpDownCounters of the
// latest report: amounts that add up over processes), and per report a `memleak.report` trace whose child `memleak.stack` spans carry the
// symbolized stacks, readable in Jaeger/Tempo without any other tool.
import { context, trace, type Attributes } from '@opentelemetry/api';
import type { RecordExporter } from '../../runtime/exporter.ts';
import { formatFrameStacktrace } from '../../symbolize/frame.ts';
import { processAttributes as attributesOf } from '../../telemetry/attributes.ts';
import type { ExportContext } from '../../telemetry/export-context.ts';
import { ATTR, METRIC, SPAN, UNIT } from '../../telemetry/semconv.ts';
import { firstUserFrame, type MemleakReport } from './report.ts';
import type { MemleakRecord } from './source.ts';

/** On spans only: a command line is too long and too varied for a metric series' identity. */
function spanProcessAttributes(r: MemleakReport): Attributes {
  const a = processAttributes(r);
  if (!r.kernel && r.commandLine !== '') a[ATTR.PROCESS_COMMAND_LINE] = r.commandLine;
  return a;
}

function processAttributes(r: MemleakReport): Attributes {
  if (r.kernel) return {};
  return attributesOf(r.pid, r.executable, r.container);
}

export function memleakMetrics(ctx: ExportContext): RecordExporter<MemleakRecord> {
  const latest = new Map<number, MemleakReport>();
  const observeAll = (value: (r: MemleakReport) => number) => (result: { observe(v: number, a: Attributes): void }) => {
    for (const r of latest.values()) result.observe(value(r), processAttributes(r));
  };
  ctx.meter.createObservableUpDownCounter(METRIC.MEMLEAK_OUTSTANDING, {
    unit: UNIT.BYTES,
    description: 'Bytes allocated by the traced process and not freed (as of the latest memleak report)',
  }).addCallback(observeAll((r) => r.totals.bytes));
  ctx.meter.createObservableUpDownCounter(METRIC.MEMLEAK_OUTSTANDING_COUNT, {
    unit: UNIT.ALLOCATIONS,
    description: 'Allocations made by the traced process and not freed (as of the latest memleak report)',
  }).addCallback((result) => {
    observeAll((r) => r.totals.allocations)(result);
    // A process that ended is observed one last time, then its series stops.
    for (const [pid, r] of latest) if (r.ended) latest.delete(pid);
  });
  return {
    onRecord(r) {
      if (r.kind === 'report') latest.set(r.pid, r);
    },
  };
}

export function memleakSpans(ctx: ExportContext): RecordExporter<MemleakRecord> {
  const tracer = ctx.tracer;
  const onRecord = (r: MemleakRecord) => {
    if (!tracer || r.kind !== 'report') return;
    const attributes: Attributes = {
      ...spanProcessAttributes(r),
      [ATTR.MEMLEAK_BYTES]: r.totals.bytes,
      [ATTR.MEMLEAK_ALLOCATIONS]: r.totals.allocations,
      [ATTR.MEMLEAK_STACKS]: r.totals.stacks,
    };
    if (r.minAgeMs > 0) attributes[ATTR.MEMLEAK_MIN_AGE] = r.minAgeMs;
    if (r.ended) attributes[ATTR.MEMLEAK_PROCESS_END] = r.ended;
    const root = tracer.startSpan(SPAN.MEMLEAK_REPORT, { startTime: r.timeMs, attributes });
    ctx.recent?.remember(SPAN.MEMLEAK_REPORT, r.pid, root.spanContext());
    const parent = trace.setSpan(context.active(), root);
    for (const s of r.top) {
      const a: Attributes = {
        ...spanProcessAttributes(r),
        [ATTR.MEMLEAK_STACK_ID]: s.stackId,
        [ATTR.MEMLEAK_BYTES]: s.bytes,
        [ATTR.MEMLEAK_ALLOCATIONS]: s.allocations,
        [ATTR.CODE_STACKTRACE]: s.frames.map(formatFrameStacktrace).join('\n'),
      };
      const site = firstUserFrame(s, r);
      if (site?.function !== undefined) a[ATTR.CODE_FUNCTION_NAME] = site.function;
      if (site?.file !== undefined) a[ATTR.CODE_FILE_PATH] = site.file;
      if (site?.line !== undefined) a[ATTR.CODE_LINE_NUMBER] = site.line;
      tracer.startSpan(SPAN.MEMLEAK_STACK, { startTime: r.timeMs, attributes: a }, parent).end(r.timeMs);
    }
    root.end(r.timeMs);
  };  return { onRecord };
}
