// memleak (-l PID): outstanding allocations grouped by user stack, symbolized to function, file
// and line; or kernel allocations (--memleak-kernel).
import { defineProbe } from '../module.ts';
import { checkMemleakTargets } from './check.ts';
import { MEMLEAK_CONFIG } from './config.ts';
import { memleakConsole } from './console.ts';
import { memleakProbe } from './definition.ts';
import { memleakMetrics, memleakSpans } from './telemetry.ts';

export type { MemleakRecord } from './source.ts';
export type { MemleakReport, MemleakStack } from './report.ts';
export type { MemleakTraceEvent } from './layout.ts';

/** "./server --port 8080" -> argv (no shell). */
function commandArgv(raw: unknown): string[] {
  const argv = String(raw).trim().split(/\s+/).filter(Boolean);
  if (argv.length === 0) throw new Error('--memleak-command needs a program to run, e.g. --memleak-command "./server --port 8080"');
  return argv;
}

export const memleak = defineProbe({
  name: 'memleak',
  summary: 'outstanding allocations of process PID (repeatable)',
  definition: memleakProbe,
  config: MEMLEAK_CONFIG,
  flags: [
    { name: 'memleak', short: 'l', type: 'string', multiple: true, key: 'pids', arg: 'PID', help: 'outstanding allocations of process PID (repeatable)', selects: true },
    { name: 'memleak-command', type: 'string', key: 'command', value: commandArgv, arg: 'CMD', help: 'run CMD (split on spaces, no shell) and trace it', selects: true },
    { name: 'memleak-lib', type: 'string', key: 'lib', value: (v) => v, arg: 'PATH', help: 'allocator library to attach to (default: the libc the process maps)' },
    { name: 'memleak-prefix', type: 'string', key: 'symbol_prefix', value: (v) => v, arg: 'P', help: 'allocator symbol prefix (je_ for prefixed jemalloc)' },
    { name: 'memleak-top', type: 'string', key: 'top', arg: 'N', help: 'stacks per report (default 10)' },
    { name: 'memleak-min-size', type: 'string', key: 'min_size', arg: 'B', help: 'ignore allocations smaller than B bytes' },
    { name: 'memleak-max-size', type: 'string', key: 'max_size', arg: 'B', help: 'ignore allocations larger than B bytes' },
    { name: 'memleak-min-age', short: 'o', type: 'string', key: 'min_age_ms', arg: 'MS', help: 'report allocations older than MS milliseconds' },
    { name: 'memleak-sample-rate', type: 'string', key: 'sample_rate', arg: 'N', help: 'trace one allocation in N' },
    { name: 'memleak-combined-only', type: 'boolean', key: 'combined_only', help: 'per-stack totals only' },
    { name: 'memleak-trace', short: 't', type: 'boolean', key: 'trace', help: 'print every allocation and free' },
    { name: 'memleak-kernel', type: 'boolean', key: 'kernel', help: 'trace kernel allocations instead', selects: true },
    { name: 'memleak-count', type: 'string', key: 'report_count', arg: 'N', help: 'stop after N reports' },
    { name: 'memleak-stack-map-size', type: 'string', key: 'stack_map_size', arg: 'N', help: 'distinct stacks kept' },
    { name: 'memleak-pprof', type: 'string', key: 'pprof', value: (v) => v, arg: 'FILE', help: 'write outstanding allocations as a gzipped pprof profile' },
  ],
  optionsTitle: 'memleak options',
  enabled: (c) => c.pids.length > 0 || c.command.length > 0 || c.kernel,
  check: (c) => checkMemleakTargets(c),
  metrics: memleakMetrics,
  spans: memleakSpans,
  console: (c) => memleakConsole(c.write, c.prefix, c.verbose),
});
