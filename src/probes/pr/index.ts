// pr (-p): page reclaim by source (kswapd, direct, memcg) and reclaim stalls.
import { enabledOption, strategyOption } from '../../config/schema.ts';
import { STRATEGY_NAMES } from '../../runtime/probe.ts';
import { defineProbe } from '../module.ts';
import { prConsole } from './console.ts';
import { prProbe } from './definition.ts';
import { prMetrics } from './metrics.ts';

export const pr = defineProbe({
  name: 'pr',
  summary: 'page reclaim',
  definition: prProbe,
  config: {
    enabled: enabledOption('Run the page reclaim probe'),
    strategy: strategyOption('pr', STRATEGY_NAMES),
  },
  flags: [{ name: 'pr', short: 'p', type: 'boolean', help: 'page reclaim', selects: true }],
  enabled: (c) => c.enabled,
  metrics: prMetrics,
  console: (c) => prConsole(c.write, c.prefix),
});
