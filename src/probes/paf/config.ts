// paf's keys: probes.paf.*
import { enabledOption, formats, strategyOption, type Infer } from '../../config/schema.ts';
import { STRATEGY_NAMES } from '../../runtime/probe.ts';

export const PAF_CONFIG = {
  enabled: enabledOption('Run the page allocation failure probe'),
  strategy: strategyOption('paf', STRATEGY_NAMES),
  span_rate_limit: { doc: 'At most this many page_alloc.failure spans per second (excess counted)', format: formats.range(0, 100000, true), default: 10 },
};

export type PafConfig = Infer<typeof PAF_CONFIG>;
