// sysstat (-s): system memory per NUMA node: LRU lists, dirty, writeback, slab, THP.
import { enabledOption, strategyOption } from '../../config/schema.ts';
import { STRATEGY_NAMES } from '../../runtime/probe.ts';
import { defineProbe } from '../module.ts';
import { sysstatConsole } from './console.ts';
import { sysstatProbe } from './definition.ts';
import { sysstatMetrics } from './metrics.ts';

export const sysstat = defineProbe({
  name: 'sysstat',
  summary: 'system memory',
  definition: sysstatProbe,
  config: {
    enabled: enabledOption('Run the system memory probe'),
    strategy: strategyOption('sysstat', STRATEGY_NAMES),
  },
  flags: [{ name: 'sysstat', short: 's', type: 'boolean', help: 'system memory', selects: true }],
  enabled: (c) => c.enabled,
  metrics: sysstatMetrics,
  console: (c) => sysstatConsole(c.write, c.prefix),
});
