// oom's keys: probes.oom.*
import { enabledOption, formats, strategyOption, type Infer } from '../../config/schema.ts';
import { STRATEGY_NAMES } from '../../runtime/probe.ts';

export const OOM_CONFIG = {
  enabled: enabledOption('Run the OOM kill and memory pressure probe (costs nothing until a kill)'),
  strategy: strategyOption('oom', STRATEGY_NAMES),
  reap_timeout: { doc: 'Seconds a kill waits for its victim\'s memory to come back before it is reported without the reap time', format: formats.range(0, 600, false), default: 10 },
  pressure: { doc: 'Read memory pressure (PSI) and the memcg event counters once per interval', format: 'strict-boolean', default: true },
  max_cgroups: { doc: 'Memory cgroups read for pressure and events per interval (bounds the work and the series)', format: formats.range(0, 100000, true), default: 2000 },
};

export type OomConfig = Infer<typeof OOM_CONFIG>;
