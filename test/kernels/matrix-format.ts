// The kernel matrix's data: the RESULT/HOOKS lines the driver prints (they cross the guest's
// serial console, the only way out), the per-kernel and committed TSV files made from them, and
// the expectations file that says which strategies each kernel series must offer.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const KERNELS_DIR = import.meta.dirname;
export const EXPECTED_FILE = join(KERNELS_DIR, 'expected.tsv');
export const COMMITTED_MATRIX = join(KERNELS_DIR, 'strategy-matrix.tsv');
export const NOTES_FILE = join(KERNELS_DIR, 'probe-notes.tsv');
export const RESULTS_DIR = join(KERNELS_DIR, 'results');

export const OUTCOMES = ['pass', 'fail', 'unavailable', 'not-implemented'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** One (kernel, variant, probe, strategy) cell of the matrix. */
export interface ResultRow {
  /** uname -r of the kernel that ran it. */
  kernel: string;
  /** '-' for the kernel as booted; 'mglru' for the pass with /sys/kernel/mm/lru_gen/enabled on. */
  variant: string;
  probe: string;
  /** '-' for a probe that is not implemented. */
  strategy: string;
  outcome: Outcome;
  /** One line: why unavailable, what failed, or what attached (kprobe target, skipped optional hooks). */
  detail: string;
}

/** "6.1.0-56-amd64" -> "6.1": expectations are per series, not per ABI. */
export function seriesOf(release: string): string {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? `${m[1]}.${m[2]}` : release;
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

// RESULT kernel=6.1.0-56-amd64 [variant=mglru] probe=sysstat strategy=kprobe pass[: detail]
export function formatResult(r: ResultRow): string {
  const variant = r.variant === '-' ? '' : ` variant=${r.variant}`;
  const detail = r.detail ? `: ${oneLine(r.detail)}` : '';
  return `RESULT kernel=${r.kernel}${variant} probe=${r.probe} strategy=${r.strategy} ${r.outcome}${detail}`;
}

const RESULT_RE = /^RESULT kernel=(\S+)(?: variant=(\S+))? probe=(\S+) strategy=(\S+) (pass|fail|unavailable|not-implemented)(?:: (.*))?$/;

export function parseResult(line: string): ResultRow | undefined {
  const m = RESULT_RE.exec(line.trim());
  if (!m) return undefined;
  return { kernel: m[1]!, variant: m[2] ?? '-', probe: m[3]!, strategy: m[4]!, outcome: m[5] as Outcome, detail: m[6] ?? '' };
}

// HOOKS probe=sysstat strategy=kprobe kprobe finish_task_switch
export function formatHooks(probe: string, strategy: string, hooks: string): string {
  return `HOOKS probe=${probe} strategy=${strategy} ${hooks}`;
}

export function parseHooks(line: string): { probe: string; strategy: string; hooks: string } | undefined {
  const m = /^HOOKS probe=(\S+) strategy=(\S+) (.*)$/.exec(line.trim());
  return m ? { probe: m[1]!, strategy: m[2]!, hooks: m[3]! } : undefined;
}

// --- TSV: results/<kernel>.tsv and the committed strategy-matrix.tsv ------------------------

export const TSV_HEADER = ['kernel', 'variant', 'probe', 'strategy', 'outcome', 'hooks', 'detail'] as const;

export interface MatrixRow extends ResultRow {
  /** The strategy's hooks as the BPF object names them (same on every kernel). */
  hooks: string;
}

const cell = (s: string) => oneLine(s).replace(/\t/g, ' ') || '-';

export function formatTsv(rows: readonly MatrixRow[]): string {
  const lines = [TSV_HEADER.join('\t')];
  for (const r of rows) lines.push([r.kernel, r.variant, r.probe, r.strategy, r.outcome, r.hooks, r.detail].map(cell).join('\t'));
  return lines.join('\n') + '\n';
}

export function parseTsv(text: string, source = 'tsv'): MatrixRow[] {
  const rows: MatrixRow[] = [];
  const lines = text.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  if (lines[0] !== TSV_HEADER.join('\t')) throw new Error(`${source}: first line must be the header ${TSV_HEADER.join(' ')}`);
  for (const [i, line] of lines.slice(1).entries()) {
    const f = line.split('\t');
    if (f.length !== TSV_HEADER.length || !(OUTCOMES as readonly string[]).includes(f[4]!)) {
      throw new Error(`${source}: row ${i + 2} is not ${TSV_HEADER.length} tab-separated fields with a known outcome: ${line}`);
    }
    const dash = (s: string) => (s === '-' ? '' : s);
    rows.push({ kernel: f[0]!, variant: f[1]!, probe: f[2]!, strategy: f[3]!, outcome: f[4] as Outcome, hooks: dash(f[5]!), detail: dash(f[6]!) });
  }
  return rows;
}

export function readTsv(path: string): MatrixRow[] {
  return parseTsv(readFileSync(path, 'utf8'), path);
}

export function writeTsv(path: string, rows: readonly MatrixRow[]): void {
  writeFileSync(path, formatTsv(rows));
}

/** Rows made from one run's output lines (RESULT lines, with hooks from the HOOKS lines). */
export function rowsFromOutput(lines: Iterable<string>): MatrixRow[] {
  const hooks = new Map<string, string>();
  const results: ResultRow[] = [];
  for (const line of lines) {
    const r = parseResult(line);
    if (r) results.push(r);
    const h = parseHooks(line);
    if (h) hooks.set(`${h.probe}/${h.strategy}`, h.hooks);
  }
  return results.map((r) => ({ ...r, hooks: hooks.get(`${r.probe}/${r.strategy}`) ?? '' }));
}

// --- expected.tsv ---------------------------------------------------------------------------

export type Expectation = 'available' | 'unavailable';

export interface ExpectRule {
  series: string;
  probe: string;
  strategy: string;
  expect: Expectation;
  why: string;
  line: number;
}

export function parseExpected(text: string, source = EXPECTED_FILE): ExpectRule[] {
  const rules: ExpectRule[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [series, probe, strategy, expect, ...why] = line.split(/\s+/);
    if (!series || !probe || !strategy || (expect !== 'available' && expect !== 'unavailable')) {
      throw new Error(`${source}:${i + 1}: want "SERIES PROBE STRATEGY available|unavailable [why]", got: ${raw}`);
    }
    rules.push({ series, probe, strategy, expect, why: why.join(' '), line: i + 1 });
  });
  return rules;
}

export function readExpected(path = EXPECTED_FILE): ExpectRule[] {
  return parseExpected(readFileSync(path, 'utf8'), path);
}

/**
 * What a kernel series should offer for a probe's strategy: the last matching rule wins
 * (PROBE and STRATEGY may be `*`). Undefined for a series the file does not name at all: an
 * unknown kernel (a CI host that differs from ours) is reported, not judged.
 */
export function expectationFor(rules: readonly ExpectRule[], series: string, probe: string, strategy: string): ExpectRule | undefined {
  let found: ExpectRule | undefined;
  for (const r of rules) {
    if (r.series !== series) continue;
    if ((r.probe === '*' || r.probe === probe) && (r.strategy === '*' || r.strategy === strategy)) found = r;
  }
  return found;
}
