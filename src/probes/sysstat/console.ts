// The -s table: the original tool's columns and order, in kB as /proc/meminfo shows them, summed over
// NUMA nodes; one row per interval in which something changed.
import { createTable, type Column } from '../../console/table.ts';
import type { RecordExporter } from '../../runtime/exporter.ts';
import type { SysstatField, SysstatRecord } from './definition.ts';

const COLUMNS: ReadonlyArray<[string, SysstatField]> = [
  ['ACTIVE', 'active'],
  ['INACTVE', 'inactive'],
  ['ANON_ACT', 'active_anon'],
  ['ANON_INA', 'inactive_anon'],
  ['FILE_ACT', 'active_file'],
  ['FILE_INA', 'inactive_file'],
  ['UNEVICT', 'unevictable'],
  ['DIRTY', 'dirty'],
  ['WRITEBK', 'writeback'],
  ['ANONPAG', 'anon_pages'],
  ['MAP', 'mapped'],
  ['SHMEM', 'shmem'],
  ['KRECLM', 'kreclaimable'],
  ['SLAB', 'slab'],
  ['SRECLM', 'sreclaimable'],
  ['SUNRECL', 'sunreclaim'],
  ['NFS_UNS', 'nfs_unstable'],
  ['WBTMP', 'writeback_tmp'],
  ['ANONHUG', 'anon_huge_pages'],
  ['SHMHUG', 'shmem_huge_pages'],
];

export function sysstatConsole(write: (line: string) => void, prefix: string): RecordExporter<SysstatRecord> {
  const table = createTable(COLUMNS.map(([title]): Column => ({ title })), write, prefix);
  const latest = new Map<number, SysstatRecord>();
  let dirty = false;
  return {
    start: () => table.header(),
    onRecord(rec) {
      latest.set(rec.node, rec);
      dirty = true;
    },
    afterPoll() {
      if (!dirty) return;
      dirty = false;
      table.row(COLUMNS.map(([, field]) => {
        let kb: number | undefined = 0;
        for (const rec of latest.values()) {
          const v = rec.bytes[field];
          kb = v === undefined || kb === undefined ? undefined : kb + v / 1024;
        }
        return kb;
      }));
    },
  };
}
