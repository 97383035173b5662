// The -a table: one row per page allocation failure, the seed's MIN LOW HIGH PRESENT FLAG
// columns (pages; FLAG is the GFP mask) then ORDER, ZONE and the GFP flag names. The zone is
// the one the allocation started from (gfp_zone(), or the nearest populated zone below it):
// its watermarks are the ones the allocator checked first. Every zone of the node is in the
// span and the zone gauges.
import type { PafRecord } from '../probes/paf.ts';
import type { ExportContext } from '../telemetry/export-context.ts';
import type { ConsoleBinding } from './sink.ts';
import { createTable, type Column } from './table.ts';

const COLUMNS: readonly Column[] = [
  { title: 'MIN' },
  { title: 'LOW' },
  { title: 'HIGH' },
  { title: 'PRESENT' },
  { title: 'FLAG', width: 10 },
  { title: 'ORDER', width: 5 },
  { title: 'ZONE', width: 8 },
  { title: 'GFP', width: 3 },
];

export function pafConsole(write: (line: string) => void, prefix: string, ctx?: Pick<ExportContext, 'kernel'>): ConsoleBinding<PafRecord> {
  const table = createTable(COLUMNS, write, prefix);
  const showNode = (ctx?.kernel.numaNodes.length ?? 1) > 1;
  return {
    start: () => table.header(),
    onRecord(rec) {
      if (rec.kind !== 'failure') return;
      const z = rec.zone;
      table.row([
        z?.min, z?.low, z?.high, z?.present,
        `0x${rec.gfp.toString(16)}`,
        rec.order,
        z ? (showNode ? `${z.node}:${z.name}` : z.name) : undefined,
        rec.gfpNames,
      ]);
    },
  };
}
