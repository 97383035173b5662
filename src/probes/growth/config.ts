// growth's keys: probes.growth.*
import { enabledOption, formats, strategyOption, type Infer } from '../../config/schema.ts';
import { STRATEGY_NAMES } from '../../runtime/probe.ts';

export const GROWTH_CONFIG = {
  enabled: enabledOption('Run the memory growth probe (growth by code path, every process, tracepoints only; off in the default set until its overhead is measured)', false),
  strategy: strategyOption('growth', STRATEGY_NAMES),
  fault_sample: { doc: 'Charge one user page fault in N, as N pages (bounds the cost of a fault storm)', format: formats.range(1, 1000000, true), default: 32 },
  suspect_intervals: { doc: 'A process is a leak suspect once its RSS grew in this many consecutive intervals with the same stack leading', format: formats.range(1, 1000, true), default: 3 },
  top: { doc: 'Stacks kept per process per interval (console, spans, pprof)', format: formats.range(1, 1000, true), default: 5 },
  top_processes: { doc: 'Processes shown per interval, and those whose lead stack is a metric series (bounds the series)', format: formats.range(1, 100000, true), default: 10 },
  pids: { doc: 'Only these processes (with comms: either); none: every process', format: 'pid-list', default: [] as number[] },
  comms: { doc: 'Only processes with these command names (at most 16)', format: 'string-list', default: [] as string[] },
  max_stacks: { doc: '(process, stack) pairs counted in the kernel; growth beyond is counted dropped', format: formats.range(64, 4194304, true), default: 65536 },
  max_processes: { doc: 'Processes counted in the kernel', format: formats.range(16, 4194304, true), default: 16384 },
  unwind_table_max_bytes: { doc: 'Bytes of unwind tables (16 per row) held in the kernel for every object the host\'s processes map, at most 64 MiB; an object that does not fit ends the stacks through it (counted truncated) until objects no process maps any more make room', format: formats.range(16, 67108864, true), default: 67108864 },
  stack_map_size: { doc: 'Distinct user stacks kept (1 KiB each)', format: formats.range(64, 1048576, true), default: 16384 },
  idle_intervals: { doc: 'A (process, stack) that has not grown for this many intervals leaves the kernel\'s maps (its bytes stay in the process\'s total), so a long run does not fill them', format: formats.range(1, 1000000, true), default: 60 },
  pprof: { doc: 'Write growth by stack (this run, every process) as a gzipped pprof profile here, after each interval', format: String, default: '' },
};

export type GrowthConfig = Infer<typeof GROWTH_CONFIG>;
