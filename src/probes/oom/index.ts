// oom (-k): every OOM kill explained (victim, trigger, constraint, memcg, the node's memory and
// the reap time), and memory pressure per container (PSI, memcg event counters).
import { defineProbe } from '../module.ts';
import { OOM_CONFIG } from './config.ts';
import { oomConsole } from './console.ts';
import { oomProbe } from './definition.ts';
import { oomMetrics, oomSpans } from './telemetry.ts';

export type { OomKill, OomPressure, OomRecord } from './record.ts';

export const oom = defineProbe({
  name: 'oom',
  summary: 'OOM kills and memory pressure',
  definition: oomProbe,
  config: OOM_CONFIG,
  flags: [{ name: 'oom', short: 'k', type: 'boolean', help: 'OOM kills and memory pressure', selects: true }],
  enabled: (c) => c.enabled,
  metrics: oomMetrics,
  spans: oomSpans,
  console: (c) => oomConsole(c.write, c.prefix),
});
