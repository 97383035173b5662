// The -p table: the original tool's RECLAIM RECLAIMED UNQUEUE CONGESTED WRITEBACK, in pages per interval,
// one row per reclaim source that did something in the interval. RECLAIM (the sum of
// scan_control.nr_to_reclaim over shrink_folio_list calls) and UNQUEUE show `-` where the
// attached strategy cannot see them; CALLS and the stall columns only exist for direct/memcg.
// Where MGLRU evicts without the per-pass event (lru_gen on 6.1; 6.12 emits it), the per-pass
// columns of an interval with calls but no passes show `-`, and RECLAIMED what the calls
// reported at their end (the only reclaim count left there; it includes slab pages).
import { createTable, type Column } from '../../console/table.ts';
import type { RecordExporter } from '../../runtime/exporter.ts';
import { counterDelta, PR_SOURCES, type PrCounters, type PrRecord, type PrSourceName, type PrTotalsRecord } from './definition.ts';

const COLUMNS: readonly Column[] = [
  { title: 'SOURCE', width: 6 },
  { title: 'SCANNED' },
  { title: 'RECLAIM' },
  { title: 'RECLAIMED' },
  { title: 'UNQUEUE' },
  { title: 'CONGESTED' },
  { title: 'WRITEBACK' },
  { title: 'CALLS', width: 6 },
  { title: 'STALL_MS' },
  { title: 'MAX_MS', width: 8 },
];

const ms = (ns: number) => (ns / 1e6).toFixed(ns >= 1e9 ? 0 : 2);

/** A source's row for one interval, or undefined when nothing happened there. */
export function prRow(source: PrSourceName, d: PrCounters, maxStallNs: number | undefined, lruGen = false): Array<string | number | undefined> | undefined {
  const hasCalls = source !== 'kswapd';
  if (d.passes === 0 && (d.folioLists ?? 0) === 0 && d.calls === 0) return undefined;
  const passesHidden = lruGen && d.passes === 0 && d.calls > 0;
  const perPass = (v: number | undefined) => (passesHidden ? undefined : v);
  return [
    source,
    perPass(d.scanned),
    d.nrToReclaim,
    passesHidden ? d.callReclaimed : d.reclaimed,
    perPass(d.unqueuedDirty),
    perPass(d.congested),
    perPass(d.writeback),
    hasCalls ? d.calls : undefined,
    hasCalls ? ms(d.stallNs) : undefined,
    hasCalls && maxStallNs !== undefined ? ms(maxStallNs) : undefined,
  ];
}

export function prConsole(write: (line: string) => void, prefix: string): RecordExporter<PrRecord> {
  const table = createTable(COLUMNS, write, prefix);
  let printed: PrTotalsRecord | undefined;
  let pending: PrTotalsRecord | undefined;
  const maxStall = new Map<PrSourceName, number>();
  return {
    start: () => table.header(),
    onRecord(rec) {
      if (rec.kind === 'totals') pending = rec;
      else maxStall.set(rec.source, Math.max(maxStall.get(rec.source) ?? 0, rec.durationNs));
    },
    afterPoll() {
      if (!pending) return;
      for (const source of PR_SOURCES) {
        const row = prRow(source, counterDelta(printed?.sources[source], pending.sources[source]), maxStall.get(source), pending.lruGen);
        if (row) table.row(row);
      }
      printed = pending;
      pending = undefined;
      maxStall.clear();
    },
  };
}
