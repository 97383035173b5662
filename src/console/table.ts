// Fixed-width tables as the original tool printed them: a header line, then one row per event
// or interval, right-aligned columns.
export interface Column {
  title: string;
  width?: number;
}

export interface TableWriter {
  header(): void;
  row(cells: ReadonlyArray<string | number | undefined>): void;
}

export function createTable(columns: readonly Column[], write: (line: string) => void, prefix = ''): TableWriter {
  const widths = columns.map((c) => Math.max(c.width ?? 9, c.title.length));
  const fmt = (cells: ReadonlyArray<string | number | undefined>) =>
    prefix + cells.map((c, i) => String(c ?? '-').padStart(widths[i] ?? 9)).join(' ');
  let rows = 0;
  let headerDone = false;
  const header = () => {
    write(fmt(columns.map((c) => c.title)));
    headerDone = true;
    rows = 0;
  };
  return {
    header,
    row(cells) {
      if (!headerDone || (process.stdout.isTTY && rows >= 40)) header();
      write(fmt(cells));
      rows++;
    },
  };
}
