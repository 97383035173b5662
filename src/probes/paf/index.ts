// paf (-a): page allocation failures with order, decoded GFP flags and zone watermarks.
import { defineProbe } from '../module.ts';
import { PAF_CONFIG } from './config.ts';
import { pafConsole } from './console.ts';
import { pafProbe } from './definition.ts';
import { pafMetrics, pafSpans } from './telemetry.ts';

export const paf = defineProbe({
  name: 'paf',
  summary: 'page allocation failures',
  definition: pafProbe,
  config: PAF_CONFIG,
  flags: [{ name: 'paf', short: 'a', type: 'boolean', help: 'page allocation failures', selects: true }],
  enabled: (c) => c.enabled,
  metrics: pafMetrics,
  spans: (ctx) => pafSpans(ctx),
  console: (c) => pafConsole(c.write, c.prefix, c),
});
