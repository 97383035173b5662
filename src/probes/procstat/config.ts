// procstat's keys: probes.procstat.*
import { enabledOption, formats, strategyOption, type Infer } from '../../config/schema.ts';
import { STRATEGY_NAMES } from '../../runtime/probe.ts';

export const PROCSTAT_CONFIG = {
  enabled: enabledOption('Run the per-process memory probe'),
  strategy: strategyOption('procstat', STRATEGY_NAMES),
  pids: { doc: 'Always report these processes (besides the top N)', format: 'pid-list', default: [] as number[] },
  comms: { doc: 'Always report processes with these command names', format: 'string-list', default: [] as string[] },
  top: { doc: 'Report the N processes with the largest RSS', format: formats.range(1, 100000, true), default: 50 },
  max_processes: { doc: 'Processes tracked in the kernel map (bounds its memory)', format: formats.range(64, 4194304, true), default: 32768 },
};

export type ProcstatConfig = Infer<typeof PROCSTAT_CONFIG>;
