// The one exporter contract: whatever turns a probe's records into metrics, spans or console
// rows. The runtime hands each record to its probe's exporters and ticks them after each poll.

export interface RecordExporter<R> {
  onRecord(record: R): void;
  /** After each poll of every probe: a table prints what accumulated since the last one. */
  afterPoll?(): void;
  /** Once the probe has attached (a table prints its header). */
  start?(): void;
  /** At the stop, after the final drain. */
  stop?(): void;
}
