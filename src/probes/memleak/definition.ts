// memleak (-l PID, --memleak-command, --memleak-kernel): outstanding allocations by stack.
// One strategy per mode: uprobes on the target's allocator for user space, the kmem
// tracepoints for the kernel. Attaching is per target process, so this probe replaces the
// generic attach loop with its own.
import { preemptGuard } from '../../host/kernel.ts';
import { basename } from 'node:path';
import type { BpfObject } from '../../libbpf/object.ts';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProbeSource, Strategy } from '../../runtime/probe.ts';
import { NoAllocatorError, placementsByModule, processPlan, programPlan, type AllocatorPlan } from './allocator.ts';
import { commandEnvironment, programImage, resolveProgram, spawnHeld, type HeldCommand } from './command.ts';
import { EXEC_PROGRAM, hookFunctionNames, KERNEL_PROGRAMS, userPrograms } from './hook-table.ts';
import { attachUserHooks } from './hooks.ts';
import { MEMLEAK_LAYOUTS, TARGET_STATE, tgidKey, u32Value } from './layout.ts';
import { readProcessMaps, type ProcessMaps } from '../../host/maps.ts';
import { processIdentity } from '../../host/proc.ts';
import type { MemleakConfig } from './config.ts';
import { formatAllocators } from './report.ts';
import { MemleakSource, type MemleakRecord, type MemleakRun } from './source.ts';
import { Target } from './target.ts';
import { MemleakUnwinder } from './unwind.ts';
import { ROW_SIZE } from '../../unwind/table.ts';

const runs = new WeakMap<BpfObject, MemleakRun>();

function kernelMode(ctx: ProbeContext<MemleakConfig>): boolean {
  return ctx.config.kernel;
}

const STRATEGIES: readonly Strategy[] = [
  {
    name: 'uprobe',
    programs: [...userPrograms().map((program) => ({ program })), { program: EXEC_PROGRAM }],
    note: 'uprobes and uretprobes on the allocator the target process really calls (the dynamic linker\'s first definition), by pid',
  },
  {
    name: 'tracepoint',
    programs: KERNEL_PROGRAMS.map((program) => ({ program })),
    note: '--memleak-kernel: kmem:kmalloc/kfree, kmem_cache_alloc/free, mm_page_alloc/free',
  },
];

function configure(obj: BpfObject, ctx: ProbeContext<MemleakConfig>, strategy: Strategy): void {
  const c = ctx.config;
  const kernel = kernelMode(ctx);
  if (kernel !== (strategy.name === 'tracepoint')) {
    throw new Error(kernel ? 'user space only (--memleak-kernel traces the kernel)' : 'kernel allocations only (with --memleak-kernel)');
  }
  if (c.combined_only && c.min_age_ms > 0) {
    ctx.log.warn('memleak: --memleak-min-age is ignored with --memleak-combined-only (no per-allocation ages are kept)');
  }
  obj.setRodata({
    min_size: BigInt(c.min_size),
    max_size: BigInt(c.max_size),
    sample_rate: c.sample_rate,
    combined_only: c.combined_only,
    trace_all: c.trace,
    page_size: BigInt(ctx.kernel.pageSize),
    kernel_filter_tgid: kernel && c.pids.length > 0,
    preempt_guard: preemptGuard(ctx.kernel),
  });
  const processes = kernel ? 1 : Math.max(1, c.pids.length + (c.command.length > 0 ? 1 : 0));
  // Kernel stacks go to the kernel's stack map, user stacks (walked by bpf/unwind.bpf.h) to
  // user_stacks; each mode leaves the other's maps at one entry.
  obj.map('stack_traces').setMaxEntries(kernel ? c.stack_map_size : 1);
  obj.map('user_stacks').setMaxEntries(kernel ? 1 : c.stack_map_size);
  // bpf/unwind.h UNWIND_MAX_ROWS (64 MiB) is the compile-time bound; the key lowers it.
  obj.map('unwind_rows').setMaxEntries(kernel ? 1 : Math.floor(c.unwind_table_max_bytes / ROW_SIZE));
  // One bucket per (process, stack) plus each process's lost-stack bucket.
  obj.map('stack_totals').setMaxEntries(c.stack_map_size * processes + processes);
  obj.map('allocs').setMaxEntries(c.max_allocations);
  if (!c.trace) obj.map('events').setMaxEntries(ctx.kernel.pageSize);
}

function run0(obj: BpfObject, ctx: ProbeContext<MemleakConfig>): MemleakUnwinder | undefined {
  return kernelMode(ctx) ? undefined : new MemleakUnwinder(obj, ctx.log);
}

function attach(loaded: LoadedProbe, ctx: ProbeContext<MemleakConfig>): void {
  const c = ctx.config;
  const obj = loaded.obj;
  const targetsMap = obj.map('targets');
  const run: MemleakRun = {
    kernel: kernelMode(ctx),
    targets: [],
    unwinder: run0(obj, ctx),
    allocatorFunctions: hookFunctionNames(c.symbol_prefix),
  };

  if (run.kernel) {
    for (const program of KERNEL_PROGRAMS) {
      obj.program(program).attach();
      loaded.attached.push(program);
    }
    for (const pid of c.pids) targetsMap.update(tgidKey(pid), u32Value(TARGET_STATE.TRACE));
    runs.set(obj, run);
    return;
  }

  let command: HeldCommand | undefined;
  const stateOf = (pid: number) => () => targetsMap.lookup(tgidKey(pid))?.readUInt32LE(0) === TARGET_STATE.TRACE;
  try {
    obj.program(EXEC_PROGRAM).attach();
    loaded.attached.push(EXEC_PROGRAM);
    const skipped = new Map<string, string>();
    const attached = new Set<string>();
    // A process without an allocator to hook (a static program with none, or stripped) is
    // still watched, with nothing attached: said once, not a failed run.
    const planOr = (who: string, plan: () => AllocatorPlan): AllocatorPlan => {
      try {
        return plan();
      } catch (err) {
        if (!(err instanceof NoAllocatorError)) throw err;
        ctx.log.warn(`memleak: ${who}: no allocator to trace: ${err.message}`);
        return { placements: [], missing: [], order: 'none' };
      }
    };
    const hook = (t: Target, who: string) => {
      if (t.plan.placements.length === 0) return;
      const r = attachUserHooks(obj, t.pid, t.plan);
      t.links = r.links;
      t.attached = r.attached;
      for (const p of r.attached) attached.add(p.func);
      for (const s of r.skipped) skipped.set(s.func, s.reason);
      ctx.log.info(`memleak: ${who}: ${formatAllocators(placementsByModule(r.attached))}`);
      ctx.log.debug(`memleak: ${who}: search order: ${t.plan.order}`);
    };
    for (const pid of c.pids) {
      if (!processIdentity(pid)) throw new Error(`process ${pid} does not exist`);
      const who = `process ${pid}`;
      const t = new Target(pid, planOr(who, () => processPlan(pid, c.lib, c.symbol_prefix)), false, stateOf(pid));
      hook(t, `${who} (${t.executable})`);
      run.targets.push(t);
    }
    if (c.command.length > 0) {
      // Where the program's calls will bind, from its file (a script's: its interpreter's) and
      // the dynamic linker's listing: the hooks are on those files, by pid, before the
      // program's first instruction.
      const program = resolveProgram(c.command[0]!);
      const plan = planOr(program, () => programPlan(programImage(program), commandEnvironment(process.env), c.lib, c.symbol_prefix));
      command = spawnHeld(c.command);
      run.command = command;
      const t = new Target(command.pid, plan, true, stateOf(command.pid), basename(program));
      hook(t, program);
      run.targets.push(t);
    }
    // Every executable mapping's unwind table, before the first allocation is traced (the
    // target's own snapshot is taken only once it is traced). An armed command's come at exec.
    for (const t of run.targets) {
      if (t.state === 'armed') continue;
      let maps: ProcessMaps | undefined;
      try {
        maps = readProcessMaps(t.pid);
      } catch { /* gone: its end is reported as usual */ }
      run.unwinder?.sync(maps);
    }
    // Traced only once every hook is in place, so no allocation is seen half.
    for (const t of run.targets) {
      targetsMap.update(tgidKey(t.pid), u32Value(t.state === 'armed' ? TARGET_STATE.ARM_EXEC : TARGET_STATE.TRACE));
      t.refreshMaps(Date.now(), true);
      run.unwinder?.sync(t.maps);
    }
    for (const f of attached) loaded.attached.push(f);
    for (const [func, reason] of skipped) {
      loaded.skipped.push({ program: func, reason });
      ctx.log.info(`memleak: ${func} not traced (the allocator lacks it): ${reason}`);
    }
  } catch (err) {
    command?.terminate();
    throw err;
  }
  runs.set(obj, run);
}

export const memleakProbe: ProbeDefinition<MemleakRecord, MemleakConfig> = {
  name: 'memleak',
  object: 'memleak',
  layouts: MEMLEAK_LAYOUTS,
  strategies: STRATEGIES,
  configure,
  attach,
  start(loaded: LoadedProbe, ctx: ProbeContext<MemleakConfig>, emit): ProbeSource {
    const run = runs.get(loaded.obj);
    if (!run) throw new Error('memleak: started without attach');
    return new MemleakSource(loaded.obj, ctx, emit, run);
  },
};
