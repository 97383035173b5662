// procstat (-r): per-process memory: vsize, RSS anon/file/shmem, swap, data, page tables, stack.
import { EnvironmentError } from '../../errors.ts';
import { targetProblem } from '../../host/proc.ts';
import { defineProbe } from '../module.ts';
import { PROCSTAT_CONFIG } from './config.ts';
import { procstatConsole } from './console.ts';
import { procstatProbe, selectionFromConfig } from './definition.ts';
import { procstatMetrics } from './metrics.ts';

export const procstat = defineProbe({
  name: 'procstat',
  summary: 'per-process memory',
  definition: procstatProbe,
  config: PROCSTAT_CONFIG,
  flags: [
    { name: 'procstat', short: 'r', type: 'boolean', help: 'per-process memory', selects: true },
    { name: 'pid', type: 'string', multiple: true, key: 'pids', arg: 'PID', help: 'always report this process (repeatable)' },
    { name: 'comm', type: 'string', multiple: true, key: 'comms', value: (v) => v, arg: 'NAME', help: 'always report processes named NAME (repeatable)' },
    { name: 'top', type: 'string', key: 'top', arg: 'N', help: 'report the N largest processes by RSS (default 50)' },
  ],
  optionsTitle: 'procstat filters',
  enabled: (c) => c.enabled,
  check(c) {
    for (const pid of c.pids) {
      const problem = targetProblem(pid);
      if (problem) throw new EnvironmentError(`--pid ${pid} (probes.procstat.pids): ${problem}: check the pid`);
    }
  },
  metrics: (ctx) => procstatMetrics(ctx),
  console: (c) => procstatConsole(c.write, c.prefix, selectionFromConfig(c.config)),
});
