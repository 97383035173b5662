// The -a table: one row per page allocation failure, the original tool's MIN LOW HIGH PRESENT FLAG
// columns (pages; FLAG is the GFP mask) then ORDER, ZONE and the GFP flag names. The zone is
// the one the allocation started from (gfp_zone(), or the nearest populated zone below it):
// its watermarks are the ones the allocator checked first. Every zone of the node is in the
// span and the zone gauges.
import { createTable, type Column } from '../../console/table.ts';
import type { KernelInfo } from '../../host/kernel.ts';
import type { RecordExporter } from '../../runtime/exporter.ts';
import type { PafRecord } from './definition.ts';

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

export function pafConsole(write: (line: string) => void, prefix: string, ctx?: { kernel: Pick<KernelInfo, 'numaNodes'> }): RecordExporter<PafRecord> {
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
