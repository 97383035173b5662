// sysstat: system memory per NUMA node, read in the kernel from pglist_data.vm_stat.
import { kernelAtLeast, type KernelInfo } from '../../host/kernel.ts';
import type { ProbeDefinition, ProbeSource, LoadedProbe, ProbeContext } from '../../runtime/probe.ts';
import { array, struct, u32, u64 } from '../../runtime/layout.ts';
import { EVENT_HEADER, EVENT_TYPE, expectRecord } from '../../runtime/record.ts';
import { RingBufferSource } from '../../runtime/ringbuf-source.ts';
import { selfTriggerRodata } from '../../runtime/self-trigger.ts';

/** Raw items in the order of enum sysstat_item (bpf/sysstat.h). */
const RAW_ITEMS = [
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'file_dirty',
  'writeback', 'anon_mapped', 'file_mapped', 'shmem', 'slab_reclaimable', 'slab_unreclaimable',
  'kernel_misc_reclaimable', 'unstable_nfs', 'writeback_temp', 'anon_thps', 'shmem_thps',
] as const;
type RawItem = (typeof RAW_ITEMS)[number];

export const SYSSTAT_EVENT = struct({ hdr: EVENT_HEADER, node: u32, presentMask: u32, pages: array(u64, RAW_ITEMS.length) }, 'sysstat_event');
export const SYSSTAT_RECORD_SIZE = SYSSTAT_EVENT.size;

/** The twenty fields of the original tool's -s table, /proc/meminfo's names in comments. */
export const SYSSTAT_FIELDS = [
  'active', // Active
  'inactive', // Inactive
  'active_anon', // Active(anon)
  'inactive_anon', // Inactive(anon)
  'active_file', // Active(file)
  'inactive_file', // Inactive(file)
  'unevictable', // Unevictable
  'dirty', // Dirty
  'writeback', // Writeback
  'anon_pages', // AnonPages
  'mapped', // Mapped
  'shmem', // Shmem
  'kreclaimable', // KReclaimable
  'slab', // Slab
  'sreclaimable', // SReclaimable
  'sunreclaim', // SUnreclaim
  'nfs_unstable', // NFS_Unstable
  'writeback_tmp', // WritebackTmp
  'anon_huge_pages', // AnonHugePages
  'shmem_huge_pages', // ShmemHugePages
] as const;
export type SysstatField = (typeof SYSSTAT_FIELDS)[number];

export interface SysstatRecord {
  node: number;
  tsNs: bigint;
  /** Bytes; undefined where the running kernel has no such counter. */
  bytes: Record<SysstatField, number | undefined>;
}

export function decodeSysstat(buf: Buffer, kernel: Pick<KernelInfo, 'pageSize' | 'version'>): SysstatRecord {
  expectRecord(buf, EVENT_TYPE.SYSSTAT, SYSSTAT_RECORD_SIZE, 'sysstat');
  const e = SYSSTAT_EVENT.read(buf, 0);
  const raw = {} as Record<RawItem, number | undefined>;
  RAW_ITEMS.forEach((item, i) => {
    raw[item] = e.presentMask & (1 << i) ? e.pages[i] : undefined;
  });
  return { node: e.node, tsNs: e.hdr.tsNs, bytes: deriveFields(raw, kernel) };
}

function deriveFields(raw: Record<RawItem, number | undefined>, kernel: Pick<KernelInfo, 'pageSize' | 'version'>): SysstatRecord['bytes'] {
  const page = kernel.pageSize;
  const b = (v: number | undefined) => (v === undefined ? undefined : v * page);
  const sum = (...vs: Array<number | undefined>) => (vs.some((v) => v === undefined) ? undefined : vs.reduce<number>((a, v) => a + v!, 0));
  // THP counters were kept in huge-page units before 5.13 (converted to base pages there).
  const thpScale = kernelAtLeast({ version: kernel.version } as KernelInfo, 5, 13) ? 1 : (2 * 1024 * 1024) / page;
  const thp = (v: number | undefined) => (v === undefined ? undefined : v * thpScale * page);
  return {
    active: b(sum(raw.active_anon, raw.active_file)),
    inactive: b(sum(raw.inactive_anon, raw.inactive_file)),
    active_anon: b(raw.active_anon),
    inactive_anon: b(raw.inactive_anon),
    active_file: b(raw.active_file),
    inactive_file: b(raw.inactive_file),
    unevictable: b(raw.unevictable),
    dirty: b(raw.file_dirty),
    writeback: b(raw.writeback),
    anon_pages: b(raw.anon_mapped),
    mapped: b(raw.file_mapped),
    shmem: b(raw.shmem),
    kreclaimable: b(sum(raw.slab_reclaimable, raw.kernel_misc_reclaimable)),
    slab: b(sum(raw.slab_reclaimable, raw.slab_unreclaimable)),
    sreclaimable: b(raw.slab_reclaimable),
    sunreclaim: b(raw.slab_unreclaimable),
    nfs_unstable: b(raw.unstable_nfs),
    writeback_tmp: b(raw.writeback_temp),
    anon_huge_pages: thp(raw.anon_thps),
    shmem_huge_pages: thp(raw.shmem_thps),
  };
}

export const sysstatProbe: ProbeDefinition<SysstatRecord, unknown> = {
  name: 'sysstat',
  object: 'sysstat',
  layouts: [SYSSTAT_EVENT],
  // Self-triggered first: one sample per interval in our own task and nothing on the host's
  // context switches (the counters are node-wide, so any task reaches them). Then tracepoints:
  // a stable ABI, cheaper than a kprobe. The original tool's finish_task_switch hooks remain for kernels
  // where neither works.
  strategies: [
    { name: 'uprobe', programs: [{ program: 'sysstat_uprobe', selfTrigger: true }], note: 'self-triggered once per interval: no per-switch cost' },
    { name: 'tp_btf', programs: [{ program: 'sysstat_tp_btf' }], note: 'sched_switch as a BTF tracepoint (5.5+)' },
    { name: 'tracepoint', programs: [{ program: 'sysstat_tracepoint' }], note: 'classic sched:sched_switch' },
    { name: 'fentry', programs: [{ program: 'sysstat_fentry' }], note: 'the original tool\'s finish_task_switch, through a trampoline' },
    { name: 'kprobe', programs: [{ program: 'sysstat_kprobe', functions: ['finish_task_switch'] }], note: 'the original tool\'s hook' },
  ],
  configure(obj, ctx) {
    obj.setRodata({
      nr_nodes: Math.max(...ctx.kernel.numaNodes) + 1,
      min_interval_ns: BigInt(Math.round(ctx.interval * 1e9)),
      ...selfTriggerRodata(),
    });
  },
  start(loaded: LoadedProbe, ctx: ProbeContext<unknown>, emit): ProbeSource {
    return new RingBufferSource(loaded.obj, 'events', (buf) => emit(decodeSysstat(buf, ctx.kernel)), ctx.log, 'sysstat');
  },
};
