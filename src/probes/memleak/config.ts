// memleak's keys: probes.memleak.*
import { formats, type Infer } from '../../config/schema.ts';

const { range } = formats;

export const MEMLEAK_CONFIG = {
  pids: { doc: 'Trace allocations of these processes (enables memleak)', format: 'pid-list', default: [] as number[] },
  command: { doc: 'Run this command (argv, not a shell) under trace', format: 'string-list', default: [] as string[] },
  lib: { doc: 'Allocator library to attach to instead of the libc the process maps', format: String, default: '' },
  symbol_prefix: { doc: 'Prefix of the allocator symbols (je_ for jemalloc built with a prefix)', format: String, default: '' },
  top: { doc: 'Report the N stacks with the most outstanding bytes', format: range(1, 100000, true), default: 10 },
  min_size: { doc: 'Ignore allocations smaller than this many bytes', format: range(0, Number.MAX_SAFE_INTEGER, true), default: 0 },
  max_size: { doc: 'Ignore allocations larger than this many bytes (0: no limit)', format: range(0, Number.MAX_SAFE_INTEGER, true), default: 0 },
  min_age_ms: { doc: 'Report only allocations older than this many milliseconds', format: range(0, 86400000, true), default: 0 },
  sample_rate: { doc: 'Trace one allocation in N', format: range(1, 1000000, true), default: 1 },
  combined_only: { doc: 'Keep only per-stack totals (no per-address ages)', format: 'strict-boolean', default: false },
  trace: { doc: 'Print every allocation and free', format: 'strict-boolean', default: false },
  kernel: { doc: 'Trace kernel allocations (kmalloc, kmem_cache, pages) instead', format: 'strict-boolean', default: false },
  stack_map_size: { doc: 'Distinct stacks the kernel keeps', format: range(64, 4194304, true), default: 16384 },
  unwind_table_max_bytes: { doc: 'Bytes of unwind tables (16 per row) held in the kernel for all traced objects, at most 64 MiB; an object that does not fit ends the stacks through it (counted truncated) until tables of exited processes make room', format: range(16, 67108864, true), default: 67108864 },
  max_allocations: { doc: 'Outstanding allocations tracked per run', format: range(1024, 16777216, true), default: 1000000 },
  report_count: { doc: 'Stop after this many reports (0: no limit)', format: range(0, 1000000, true), default: 0 },
  pprof: { doc: 'Write the outstanding allocations as a gzipped pprof profile here', format: String, default: '' },
  command_line_max: { doc: 'Characters of a traced process\'s command line kept in process.command_line (0: none)', format: range(0, 65536, true), default: 512 },
};

export type MemleakConfig = Infer<typeof MEMLEAK_CONFIG>;
