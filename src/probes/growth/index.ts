// growth (-g): which code makes each process's memory grow, for every process, from
// tracepoints only (brk, anonymous mmap, mremap, munmap, sampled user page faults), with
// whole user stacks from the CFI unwinder; leak suspects as `memory.growth` spans.
import { EnvironmentError } from '../../errors.ts';
import { targetProblem } from '../../host/proc.ts';
import { defineProbe } from '../module.ts';
import { GROWTH_CONFIG } from './config.ts';
import { growthConsole } from './console.ts';
import { growthProbe } from './definition.ts';
import { growthMetrics, growthSpans } from './telemetry.ts';

export type { GrowthReport, ProcessGrowth, GrowthStack } from './report.ts';

export const growth = defineProbe({
  name: 'growth',
  summary: 'memory growth by code path, every process, no uprobes',
  definition: growthProbe,
  config: GROWTH_CONFIG,
  flags: [
    { name: 'growth', short: 'g', type: 'boolean', help: 'memory growth by code path, every process, no uprobes', selects: true },
    { name: 'growth-pid', type: 'string', multiple: true, key: 'pids', arg: 'PID', help: 'only this process (repeatable; default: every process)' },
    { name: 'growth-comm', type: 'string', multiple: true, key: 'comms', value: (v) => v, arg: 'NAME', help: 'only processes named NAME (repeatable)' },
    { name: 'growth-pprof', type: 'string', key: 'pprof', value: (v) => v, arg: 'FILE', help: 'write growth by stack as a gzipped pprof profile after each interval' },
  ],
  optionsTitle: 'growth options',
  enabled: (c) => c.enabled,
  check(c) {
    for (const pid of c.pids) {
      const problem = targetProblem(pid);
      if (problem) throw new EnvironmentError(`--growth-pid ${pid} (probes.growth.pids): ${problem}: check the pid`);
    }
    if (c.comms.length > 16) throw new EnvironmentError(`--growth-comm (probes.growth.comms): ${c.comms.length} names, at most 16: name fewer`);
  },
  metrics: growthMetrics,
  spans: growthSpans,
  console: (c) => growthConsole(c.write, c.prefix, c.config.top_processes),
});
