// growth (-g): memory growth by code path, every process (or those chosen), tracepoints only.
import { preemptGuard } from '../../host/kernel.ts';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProbeSource, Strategy } from '../../runtime/probe.ts';
import { ROW_SIZE } from '../../unwind/table.ts';
import type { GrowthConfig } from './config.ts';
import { GROWTH_LAYOUTS } from './layout.ts';
import { GrowthSource, type GrowthRecord } from './source.ts';

export const GROWTH_PROGRAMS = [
  'growth_brk_enter', 'growth_brk_exit', 'growth_mmap_enter', 'growth_mmap_exit',
  'growth_mremap_enter', 'growth_munmap_enter', 'growth_fault', 'growth_fault_kernel',
] as const;

const STRATEGIES: readonly Strategy[] = [
  {
    name: 'tracepoint',
    programs: GROWTH_PROGRAMS.map((program) => ({ program })),
    note: 'syscalls brk/mmap/mremap/munmap and exceptions:page_fault_user/kernel (faults that give a process a page, its own or the kernel\'s on its behalf, sampled): no uprobe, nothing traps on malloc or free',
  },
];

const MAX_COMMS = 16; // bpf/growth.h GROWTH_MAX_COMMS

function commKey(name: string): Buffer {
  const b = Buffer.alloc(16);
  b.write(name.slice(0, 15), 'latin1');
  return b;
}

export const growthProbe: ProbeDefinition<GrowthRecord, GrowthConfig> = {
  name: 'growth',
  object: 'growth',
  layouts: GROWTH_LAYOUTS,
  strategies: STRATEGIES,
  configure(obj, ctx) {
    const c = ctx.config;
    if (c.comms.length > MAX_COMMS) throw new Error(`probes.growth.comms: at most ${MAX_COMMS} names`);
    obj.setRodata({
      page_size: BigInt(ctx.kernel.pageSize),
      fault_sample: c.fault_sample,
      filter: c.pids.length > 0 || c.comms.length > 0,
      preempt_guard: preemptGuard(ctx.kernel),
    });
    obj.map('growth').setMaxEntries(c.max_stacks);
    obj.map('procs').setMaxEntries(c.max_processes);
    obj.map('user_stacks').setMaxEntries(c.stack_map_size);
    obj.map('unwind_rows').setMaxEntries(Math.floor(c.unwind_table_max_bytes / ROW_SIZE));
  },
  start(loaded: LoadedProbe, ctx: ProbeContext<GrowthConfig>, emit): ProbeSource {
    const one = Buffer.from([1]);
    for (const pid of ctx.config.pids) {
      const k = Buffer.alloc(4);
      k.writeUInt32LE(pid);
      loaded.obj.map('pids').update(k, one);
    }
    for (const comm of ctx.config.comms) loaded.obj.map('comms').update(commKey(comm), one);
    return new GrowthSource(loaded.obj, ctx, emit);
  },
};
