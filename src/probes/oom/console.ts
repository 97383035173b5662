// The -k table: one row per OOM kill: victim and trigger, the constraint, the cgroup whose limit
// was hit (or the victim's), the victim's RSS, the cgroup's limit and usage (kB), the reap time.
import { createTable, type Column } from '../../console/table.ts';
import type { RecordExporter } from '../../runtime/exporter.ts';
import type { OomRecord } from './record.ts';

const COLUMNS: readonly Column[] = [
  { title: 'VICTIM', width: 8 },
  { title: 'COMM', width: 15 },
  { title: 'TRIGGER', width: 8 },
  { title: 'TCOMM', width: 15 },
  { title: 'CONSTRAINT', width: 10 },
  { title: 'CGROUP', width: 24 },
  { title: 'RSS_KB' },
  { title: 'LIMIT_KB' },
  { title: 'USAGE_KB' },
  { title: 'REAP_MS', width: 8 },
];

const kb = (b: number | undefined) => (b === undefined ? undefined : Math.round(b / 1024));

export function oomConsole(write: (line: string) => void, prefix: string): RecordExporter<OomRecord> {
  const table = createTable(COLUMNS, write, prefix);
  return {
    start: () => table.header(),
    onRecord(rec) {
      if (rec.kind !== 'kill') return;
      const v = rec.victim;
      const rss = v.rssAnonBytes === undefined ? undefined : v.rssAnonBytes + (v.rssFileBytes ?? 0) + (v.rssShmemBytes ?? 0);
      table.row([
        v.pid, v.comm, rec.trigger.pid, rec.trigger.comm, rec.constraint, rec.memcg?.path ?? (rec.constraint === 'global' ? '/' : undefined),
        kb(rss), kb(rec.memcg?.limitBytes), kb(rec.memcg?.usageBytes), rec.reap.reapMs === undefined ? undefined : rec.reap.reapMs.toFixed(1),
      ]);
    },
  };
}
