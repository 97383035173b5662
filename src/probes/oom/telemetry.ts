// oom as OpenTelemetry: a counter of kills by constraint and container, the memcg event
// counters and pressure stall time from the latest pressure record, and one `oom.kill` span per
// kill carrying the whole story (a span event per lead-up retry).
import { SpanKind, type Attributes } from '@opentelemetry/api';
import { monotonicToWall } from '../../host/clock.ts';
import type { RecordExporter } from '../../runtime/exporter.ts';
import { containerAttributes } from '../../telemetry/attributes.ts';
import type { ExportContext } from '../../telemetry/export-context.ts';
import { ATTR, METRIC, SPAN, UNIT } from '../../telemetry/semconv.ts';
import type { OomKill, OomPressure, OomRecord } from './record.ts';


const MEMCG_EVENTS = ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill'] as const;

export function oomMetrics(ctx: ExportContext): RecordExporter<OomRecord> {
  const kills = ctx.meter.createCounter(METRIC.OOM_KILLS, {
    unit: UNIT.KILLS,
    description: 'Processes killed by the OOM killer, by constraint (global, memcg, cpuset, mempolicy) and the victim\'s container',
  });
  let latest: OomPressure | undefined;
  ctx.meter.createObservableCounter(METRIC.MEMCG_EVENTS, {
    unit: UNIT.EVENTS,
    description: 'Memory cgroup events (memory.events on cgroup v2; oom_kill from memory.oom_control on v1), per cgroup',
  }).addCallback((r) => {
    for (const cg of latest?.cgroups ?? []) {
      for (const e of MEMCG_EVENTS) {
        const v = cg.events?.[e];
        if (v !== undefined) r.observe(v, { [ATTR.MEMCG_EVENT]: e, [ATTR.CGROUP_PATH]: cg.path, ...containerAttributes(cg.container) });
      }
    }
  });
  ctx.meter.createObservableCounter(METRIC.PRESSURE_STALL, {
    unit: UNIT.SECONDS,
    description: 'Time tasks stalled waiting for memory (PSI): some (at least one task) and full (all non-idle tasks), for the host and per cgroup (v2)',
  }).addCallback((r) => {
    const host = latest?.host;
    if (host) {
      r.observe(host.someSeconds, { [ATTR.PRESSURE_SCOPE]: 'some' });
      if (host.fullSeconds !== undefined) r.observe(host.fullSeconds, { [ATTR.PRESSURE_SCOPE]: 'full' });
    }
    for (const cg of latest?.cgroups ?? []) {
      if (!cg.pressure) continue;
      const attrs = { [ATTR.CGROUP_PATH]: cg.path, ...containerAttributes(cg.container) };
      r.observe(cg.pressure.someSeconds, { ...attrs, [ATTR.PRESSURE_SCOPE]: 'some' });
      if (cg.pressure.fullSeconds !== undefined) r.observe(cg.pressure.fullSeconds, { ...attrs, [ATTR.PRESSURE_SCOPE]: 'full' });
    }
  });
  return {
    onRecord(rec) {
      if (rec.kind === 'pressure') latest = rec;
      else kills.add(1, { [ATTR.OOM_CONSTRAINT]: rec.constraint, ...containerAttributes(rec.victim.container) });
    },
  };
}

/** Everything one kill says, as span attributes (absent values left out). */
export function killAttributes(k: OomKill): Attributes {
  const a: Attributes = {
    [ATTR.PROCESS_PID]: k.victim.pid,
    [ATTR.PROCESS_EXECUTABLE_NAME]: k.victim.comm,
    ...containerAttributes(k.victim.container),
    [ATTR.OOM_CONSTRAINT]: k.constraint,
    'memwatcher.oom.constraint_source': k.constraintSource,
    'memwatcher.oom.trigger.pid': k.trigger.pid,
    'memwatcher.oom.trigger.comm': k.trigger.comm,
    'memwatcher.oom.node.free': k.node.freeBytes,
    'memwatcher.oom.node.available': k.node.availableBytes,
    'memwatcher.oom.top_scope': k.topScope,
  };
  const set = (key: string, v: string | number | boolean | undefined) => {
    if (v !== undefined) a[key] = v;
  };
  set(ATTR.USER_ID, k.victim.uid);
  set('memwatcher.oom.victim.oom_score_adj', k.victim.oomScoreAdj);
  set('memwatcher.oom.victim.rss.anon', k.victim.rssAnonBytes);
  set('memwatcher.oom.victim.rss.file', k.victim.rssFileBytes);
  set('memwatcher.oom.victim.rss.shmem', k.victim.rssShmemBytes);
  set('memwatcher.oom.victim.swap', k.victim.swapBytes);
  set('memwatcher.oom.victim.page_tables', k.victim.pageTablesBytes);
  set('memwatcher.oom.victim.total_vm', k.victim.totalVmBytes);
  if (k.trigger.container.containerId) a['memwatcher.oom.trigger.container.id'] = k.trigger.container.containerId;
  set(ATTR.CGROUP_PATH, k.memcg?.path);
  set('memwatcher.oom.memcg.limit', k.memcg?.limitBytes);
  set('memwatcher.oom.memcg.usage', k.memcg?.usageBytes);
  set(ATTR.ALLOC_ORDER, k.order);
  set(ATTR.ALLOC_GFP, k.gfpNames);
  set('memwatcher.oom.reap_ms', k.reap.reapMs);
  set('memwatcher.oom.reap_by', k.reap.by);
  set('memwatcher.oom.reap_note', k.reapNote);
  const zones = k.node.zones.filter((z) => z.managed > 0);
  if (zones.length) a['memwatcher.oom.node.zones'] = zones.map((z) => `${z.name} free=${z.free} min=${z.min} low=${z.low} high=${z.high}`);
  if (k.topProcesses.length) a['memwatcher.oom.top_processes'] = k.topProcesses.map((p) => `${p.pid} ${p.comm} ${p.rssBytes}`);
  return a;
}

export function oomSpans(ctx: ExportContext): RecordExporter<OomRecord> {
  const tracer = ctx.tracer;
  return {
    onRecord(rec) {
      if (!tracer || rec.kind !== 'kill') return;
      const t = monotonicToWall(rec.tsNs);
      const report = ctx.recent?.last(SPAN.MEMLEAK_REPORT, rec.victim.pid);
      const links = report ? [{ context: report, attributes: { [ATTR.PROBE]: 'memleak' } }] : [];
      const span = tracer.startSpan(SPAN.OOM_KILL, { kind: SpanKind.INTERNAL, startTime: t, attributes: killAttributes(rec), links });
      for (const r of rec.leadup.retries) {
        const attrs: Attributes = { [ATTR.ALLOC_ORDER]: r.order };
        if (r.zoneName !== undefined) attrs[ATTR.ZONE_NAME] = r.zoneName;
        if (r.noProgressLoops !== undefined) attrs['memwatcher.oom.retry.no_progress_loops'] = r.noProgressLoops;
        if (r.result !== undefined) attrs['memwatcher.oom.retry.result'] = r.result;
        span.addEvent(r.kind, attrs, monotonicToWall(r.tsNs));
      }
      span.end(t);
    },
  };
}
