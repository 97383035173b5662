// oom (-k): OOM kills and memory pressure. The definition: its hooks in order of preference,
// tunables, and the source. Layouts: bpf/oom.h and ./record.ts.
import { existsSync } from 'node:fs';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProbeSource, ProgramAttach, Strategy } from '../../runtime/probe.ts';
import { GfpDecoder, loadGfpTable } from '../../host/gfp.ts';
import type { OomConfig } from './config.ts';
import { CgroupPathResolver, memcgRoot, readCgroupMounts } from './cgroup.ts';
import { PressureReader } from './pressure.ts';
import { KILL_EVENT, REAP_EVENT, type OomRecord } from './record.ts';
import { OomSource } from './source.ts';

const opt = (program: string): ProgramAttach => ({ program, optional: true });

/** kprobe on oom_kill_process for its struct oom_control; refused where kprobes are not built in. */
const CTL_KPROBE: ProgramAttach = { program: 'oom_kill_process_kprobe', functions: ['oom_kill_process'], optional: true };

export const REAP_PROGRAMS = {
  tp_btf: ['oom_wake_reaper_btf', 'oom_start_reaping_btf', 'oom_finish_reaping_btf', 'oom_skip_reaping_btf', 'oom_exit_mmap_btf', 'oom_exit_btf'],
  tracepoint: ['oom_wake_reaper_tp', 'oom_start_reaping_tp', 'oom_finish_reaping_tp', 'oom_skip_reaping_tp', 'oom_exit_mmap_tp', 'oom_exit_tp'],
} as const;
export const LEADUP_PROGRAMS = {
  tp_btf: ['oom_reclaim_retry_btf', 'oom_compact_retry_btf'],
  tracepoint: ['oom_reclaim_retry_tp', 'oom_compact_retry_tp'],
} as const;

/** The tracepoint behind each optional program. tp_btf programs resolve their tracepoint at
 * load, and classic ones read a context type named after it: on a kernel without it (exit_mmap
 * before 6.1) the program would fail the whole object's load, so configure() leaves it out
 * and the attach loop then skips it as an optional hook. */
export const PROGRAM_EVENTS: Readonly<Record<string, string>> = {
  oom_victim_signal_btf: 'signal/signal_generate',
  oom_wake_reaper_btf: 'oom/wake_reaper',
  oom_start_reaping_btf: 'oom/start_task_reaping',
  oom_finish_reaping_btf: 'oom/finish_task_reaping',
  oom_skip_reaping_btf: 'oom/skip_task_reaping',
  oom_exit_mmap_btf: 'mmap/exit_mmap',
  oom_exit_btf: 'sched/sched_process_exit',
  oom_reclaim_retry_btf: 'oom/reclaim_retry_zone',
  oom_compact_retry_btf: 'oom/compact_retry',
  oom_wake_reaper_tp: 'oom/wake_reaper',
  oom_start_reaping_tp: 'oom/start_task_reaping',
  oom_finish_reaping_tp: 'oom/finish_task_reaping',
  oom_skip_reaping_tp: 'oom/skip_task_reaping',
  oom_exit_mmap_tp: 'mmap/exit_mmap',
  oom_exit_tp: 'sched/sched_process_exit',
  oom_reclaim_retry_tp: 'oom/reclaim_retry_zone',
  oom_compact_retry_tp: 'oom/compact_retry',
};

const CLASSIC_EXTRAS: ProgramAttach[] = [...REAP_PROGRAMS.tracepoint.map(opt), ...LEADUP_PROGRAMS.tracepoint.map(opt)];

export const OOM_STRATEGIES: readonly Strategy[] = [
  {
    name: 'tp_btf',
    programs: [
      { program: 'oom_mark_victim_btf' },
      CTL_KPROBE,
      ...REAP_PROGRAMS.tp_btf.map(opt),
      ...LEADUP_PROGRAMS.tp_btf.map(opt),
    ],
    note: 'mark_victim as a BTF tracepoint with the victim\'s task_struct (6.9+, and the 5.10.y and 6.1.y stable backports); oom_control through an optional kprobe',
  },
  {
    name: 'tracepoint',
    programs: [
      { program: 'oom_mark_victim_tp' },
      opt('oom_victim_signal_btf'),
      CTL_KPROBE,
      ...CLASSIC_EXTRAS,
    ],
    note: 'classic oom:mark_victim (the pid; RSS fields since 6.9); the victim\'s task from the SIGKILL sent just before (tp_btf signal_generate)',
  },
  {
    name: 'fentry',
    programs: [
      { program: 'oom_kill_process_fentry' },
      { program: 'oom_mark_victim_tp' },
      ...CLASSIC_EXTRAS,
    ],
    note: 'oom_kill_process through a trampoline: the kernel\'s oom_control (constraint, memcg, order, gfp) and its chosen victim, with classic mark_victim',
  },
];

function resolverFor(root: string): CgroupPathResolver {
  const r = new CgroupPathResolver(root);
  r.refresh();
  return r;
}

export const oomProbe: ProbeDefinition<OomRecord, OomConfig> = {
  name: 'oom',
  object: 'oom',
  strategies: OOM_STRATEGIES,
  layouts: [KILL_EVENT, REAP_EVENT],
  configure(obj, ctx, strategy) {
    obj.setRodata({ page_shift: Math.log2(ctx.kernel.pageSize) });
    const tracefs = ctx.kernel.tracefs;
    if (!tracefs) return; // cannot tell: every hook is tried
    for (const p of strategy.programs) {
      const event = PROGRAM_EVENTS[p.program];
      if (!p.optional || !event || existsSync(`${tracefs}/events/${event}`)) continue;
      obj.program(p.program).setAutoload(false);
      ctx.log.debug(`oom: ${p.program} not loaded: this kernel has no ${event} tracepoint`);
    }
  },
  start(loaded: LoadedProbe, ctx: ProbeContext<OomConfig>, emit): ProbeSource {
    const settings = ctx.config;
    const mounts = readCgroupMounts();
    const root = memcgRoot(mounts);
    const has = (p: string) => loaded.attached.includes(p);
    let gfpNames: ((gfp: number) => string) | undefined;
    if (has('oom_kill_process_kprobe') || has('oom_kill_process_fentry')) {
      const { table, fallbackReason } = loadGfpTable(ctx.kernel.tracefs, ctx.kernel.version);
      if (fallbackReason) ctx.log.warn(`oom: GFP flag names from the built-in table: ${fallbackReason}`);
      const dec = new GfpDecoder(table);
      gfpNames = (gfp) => dec.decode(gfp);
    }
    return new OomSource(loaded.obj, {
      pageSize: ctx.kernel.pageSize,
      memcgVersion: root?.version ?? 2,
      ...(root ? { resolver: resolverFor(root.root) } : {}),
      ...(gfpNames ? { gfpNames } : {}),
      ...(settings.pressure ? { pressure: new PressureReader({ mounts, maxCgroups: settings.max_cgroups }), pressureIntervalMs: ctx.interval * 1000 } : {}),
      reapTimeoutMs: settings.reap_timeout * 1000,
      hooks: {
        exitMmap: has('oom_exit_mmap_btf') || has('oom_exit_mmap_tp'),
        exit: has('oom_exit_btf') || has('oom_exit_tp'),
        reaper: has('oom_finish_reaping_btf') || has('oom_finish_reaping_tp'),
      },
    }, ctx.log, emit);
  },
};
