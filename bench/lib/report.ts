// The benchmark's results as markdown tables (bench/results/latest.md) and as the page bench/RESULTS.md.
import type { DrainResult } from '../../harness/drain.ts';
import type { ChurnResult, FootprintRow } from '../footprint.ts';
import type { OverheadResult, ProgramCost, StormFigures } from '../overhead.ts';
import { BENCH_DRAIN_RECORD_SIZE } from '../../harness/drain-load.ts';
import type { Machine } from './machine.ts';
import { pct, si } from '../../harness/stats.ts';

export interface ExtraSection {
  title: string;
  markdown: string;
  /** The bench/<module>.ts that wrote it. */
  module?: string;
}

export interface BenchResults {
  machine: Machine;
  drain?: DrainResult[];
  overhead?: OverheadResult;
  programs?: ProgramCost[];
  footprint?: FootprintRow[];
  churn?: ChurnResult;
  extra: ExtraSection[];
  /** Sections that failed, with why. */
  errors: Array<{ section: string; error: string }>;
  /** Sections kept from earlier runs (`--only` measured the others), grouped by the run they
   * came from, with its machine line (one object in results written before the grouping). */
  earlier?: EarlierRun | EarlierRun[];
  /** An earlier run's storm ratios and program costs, shown beside these (`--before`). */
  before?: { label: string; machine: Machine; overhead?: OverheadResult; programs?: ProgramCost[] };
}

export interface EarlierRun {
  machine: Machine;
  sections: string[];
}

export function earlierRuns(r: Pick<BenchResults, 'earlier'>): EarlierRun[] {
  return r.earlier === undefined ? [] : Array.isArray(r.earlier) ? r.earlier : [r.earlier];
}

/** Budgets from the benchmark issue: probe-on throughput over probe-off, per storm. */
export const BUDGET = { pipe: 0.98, pagefault: 0.97, drainPerSecond: 1_000_000 } as const;

const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;

export function machineLine(m: Machine): string {
  const load = m.loadEnd === undefined ? m.loadStart.toFixed(1) : `${m.loadStart.toFixed(1)} → ${m.loadEnd.toFixed(1)}`;
  return `${m.date}: ${m.cpu}, ${m.cores} cores (${m.virtualization}), ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node.replace(/^v/, '')}, libbpf ${m.libbpf}; 1-min load average ${load} (shared host).`;
}

function drainTable(rs: DrainResult[]): string {
  const loads = [...new Set(rs.map((r) => r.offered))];
  const cell = (r: DrainResult | undefined) => r
    ? [`${si(r.perSecond)} of ${si(r.producedPerSecond)}`, r.lost ? `${si(r.lost)} (${pct(r.lost / r.produced)})` : '0', pct(r.consumerCpu, 0), r.nsPerRecord ? `${Math.round(r.nsPerRecord)} (${si(1e9 / r.nsPerRecord)})` : '-']
    : ['-', '-', '-', '-'];
  const rows = loads.map((load) => {
    const lib = rs.find((r) => r.offered === load && r.consumer === 'libbpf');
    const mm = rs.find((r) => r.offered === load && r.consumer === 'mmap');
    const offered = load === 0 ? `flat out (${si(Math.max(lib?.producedPerSecond ?? 0, mm?.producedPerSecond ?? 0))})` : si(load);
    return [offered, ...cell(lib), ...cell(mm)];
  });
  const r0 = rs[0]!;
  const short = rs.filter((r) => r.offered > 0 && r.producedPerSecond < 0.9 * r.offered).length;
  return [
    table(['offered/s', 'libbpf callback: received/s of produced/s', 'lost', 'CPU', 'CPU ns/record (records/s per core)', 'mmap batch: received/s of produced/s', 'lost', 'CPU', 'CPU ns/record (records/s per core)'], rows),
    '',
    `${r0.seconds} s per load; ${r0.recordsPerTrigger} records of ${BENCH_DRAIN_RECORD_SIZE} bytes per trigger (bpf/bench_drain.bpf.c), ring of ${r0.ringBytes >> 20} MiB, consumer polling every ${r0.idlePollMs} ms when empty, decoding every record (header check + fields) into a sink that checks sequence order (no record was misordered or unaccounted for: ${rs.every((r) => r.misordered === 0 && r.unaccounted === 0) ? 'yes' : 'NO'}). Consumer pinned to one CPU, producer to the other (a producer held off its CPU skips the triggers it missed rather than bursting them); CPU is the consumer process's, as a fraction of its core (below 100% with losses: other tenants held the core), and per record received, which gives the records/s one whole core would drain; losses are the kernel's failed reserves.${short ? ` Where less was produced than offered, the producer too was held off its CPU by other tenants.` : ''}`,
  ].join('\n');
}

function stormCells(fs: StormFigures[], budget: number, before?: StormFigures[]): string[][] {
  return fs.map((f, i) => {
    const b = before?.find((x) => x.condition === f.condition);
    return [
      f.condition,
      `${si(f.perCpu)} (${si(f.perWall)}/s wall)`,
      ...(before ? [i === 0 ? '1' : b ? `${b.ratio.toFixed(3)}${b.ratio >= budget ? '' : ' (over)'}` : '-'] : []),
      i === 0 ? '1' : `${f.ratio.toFixed(3)} (${f.wallRatio.toFixed(2)} wall)`,
      i === 0 ? '' : f.ratio >= budget ? 'within' : '**over**',
      f.agentCpu === undefined ? '' : pct(f.agentCpu),
    ];
  });
}

/** What the empty-program row says about the others, from this run's figures. */
function floorNote(o: OverheadResult): string {
  const pf = o.pagefault.find((f) => f.condition.startsWith('empty program on '));
  const pipe = o.pipe.find((f) => f.condition.startsWith('empty program on '));
  if (!pf || !pipe) return '';
  const cost = (r: number) => pct(1 - r, 1);
  return ` "Empty program on mm_page_alloc" is bpf/bench_floor.bpf.c (it returns at once) attached by the bench itself, with no agent: the least that paf's failure hook, which must see every page allocation to catch the NULL one, can cost. It cost the page-fault storm ${cost(pf.ratio)}${pf.ratio < BUDGET.pagefault ? `, more than the ${cost(BUDGET.pagefault)} budget on its own: on this machine, catching every allocation failure cannot meet that budget` : ''}; the rows with paf carry that same hook and nothing else on this storm's path, so they differ from it by the noise between runs. On the context-switch storm its program hardly runs (a pipe round trip allocates no page), so its ratio there, ${pipe.ratio.toFixed(3)}, is this host's noise between runs: the default strategies run no program on a context switch (procstat reads every process once per interval with a task iterator, sysstat's and paf's periodic samples are self-triggered in mem-watcher's own task).`;
}

function overheadTables(o: OverheadResult, before?: BenchResults['before']): string {
  const b = before?.overhead;
  const head = (unit: string) => ['probes', unit, ...(b ? ['ratio before'] : []), b ? 'ratio now' : 'ratio', 'budget', 'agent CPU'];
  return [
    ...(b ? [`"Ratio before": ${before!.label} (${before!.machine.date}, ${b.reps} repetitions, load ${before!.machine.loadStart.toFixed(1)}${before!.machine.loadEnd === undefined ? '' : ` → ${before!.machine.loadEnd.toFixed(1)}`}); "ratio now": this run.`, ''] : []),
    `Context-switch storm (\`${o.pipeTool}\`, ${si(o.pipeLoops)} round trips a run), budget ≥ ${BUDGET.pipe}:`,
    '',
    table(head('round trips per CPU-s'), stormCells(o.pipe, BUDGET.pipe, b?.pipe)),
    '',
    `Page-fault storm (bench/c/pagefault-storm: map, touch, unmap 16 MiB, ${o.pagefaultSeconds} s a run), budget ≥ ${BUDGET.pagefault}:`,
    '',
    table(head('pages per CPU-s'), stormCells(o.pagefault, BUDGET.pagefault, b?.pagefault)),
    '',
    `${o.reps} repetitions, conditions interleaved (order rotating), median.${floorNote(o)}${o.foreignPrograms.length ? ` Other tenants' tracing programs were loaded during the no-probe runs (so in every condition): ${o.foreignPrograms.slice(0, 12).map((n) => `\`${n}\``).join(', ')}${o.foreignPrograms.length > 12 ? `, and ${o.foreignPrograms.length - 12} more` : ''}.` : ' No other tracing programs were loaded during the no-probe runs.'} Throughput per CPU-second the storm used (wait4 rusage): the probes run in the storm's context and are charged to it, while time lost to other tenants is not; wall-clock figures alongside. The storm is pinned to one CPU; the agent runs with \`--exporter none --interval 1\`.`,
  ].join('\n');
}

function programRows(ps: ProgramCost[]): string[][] {
  return ps.filter((p) => p.runCnt > 0).sort((a, b) => b.runTimeNs - a.runTimeNs).map((p) => [
    `\`${p.name}\``, p.type, si(p.runCnt), p.runCnt ? `${Math.round(p.avgNs)}` : '-', (p.runTimeNs / 1e6).toFixed(1),
  ]);
}

function programTable(ps: ProgramCost[], before?: BenchResults['before']): string {
  const idle = ps.filter((p) => p.runCnt === 0).map((p) => `\`${p.name}\``);
  const head = ['program', 'type', 'runs', 'ns/run', 'total ms'];
  return [
    table(head, programRows(ps)),
    '',
    `All kernel probes attached, \`kernel.bpf_stats_enabled=1\` during one context-switch storm and one page-fault storm (runs and time are the deltas over that window).${idle.length ? ` Not run in that window (their events did not occur): ${idle.join(', ')}.` : ''} Iterator programs (\`iter/\`, one run per task visited) and self-triggered uprobes (type kprobe) run in mem-watcher's own task, once per interval: their time is the agent's CPU, not the observed work's.`,
    ...(before?.programs ? ['', `Before: ${before.label} (${before.machine.date}), the same window:`, '', table(head, programRows(before.programs))] : []),
  ].join('\n');
}

function footprintTable(fs: FootprintRow[]): string {
  const rows = fs.map((f) => [f.probes.join(', '), f.exporter, pct(f.idleCpu), mib(f.idleRssKb), pct(f.stormCpu), mib(f.stormRssKb), mib(f.peakRssKb)]);
  return [
    table(['probes', 'exporter', 'idle: CPU', 'RSS', 'storm: CPU', 'RSS', 'peak RSS'], rows),
    '',
    'mem-watcher (`bin/mem-watcher --interval 1`, console to /dev/null, otlp to a local receiver) after start-up; CPU as a fraction of one core from /proc/PID/stat, RSS from /proc/PID/status; the storm is both storms above at once.',
  ].join('\n');
}

function churnTable(c: ChurnResult): string {
  return [
    table(['probes', 'processes', 'churn', 'agent CPU', 'RSS before → after (peak)', 'pids per export (max)', 'pids exported'], [[
      c.probes.join(', '), si(c.procs), `${c.seconds.toFixed(1)} s`, pct(c.cpu), `${mib(c.rssBeforeKb)} → ${mib(c.rssAfterKb)} (${mib(c.peakRssKb)})`, String(c.maxPointsPerExport), String(c.distinctPids),
    ]]),
    '',
    'bench/c/churn: short-lived processes (fork, touch 512 KiB, exit after 2 ms, 16 alive at once), agent exporting OTLP every second.',
  ].join('\n');
}

export function renderMarkdown(r: BenchResults): string {
  const parts: string[] = [`Machine: ${machineLine(r.machine)}`, ''];
  for (const e of earlierRuns(r)) parts.push(`Kept from an earlier run (${e.sections.join(', ')}): ${machineLine(e.machine)}`, '');
  if (r.drain?.length) parts.push('### Drain: ring buffer → records, one core', '', drainTable(r.drain), '');
  if (r.overhead) parts.push('### Overhead on the observed work', '', overheadTables(r.overhead, r.before), '');
  if (r.programs?.length) parts.push('### Per-program cost (kernel BPF statistics)', '', programTable(r.programs, r.before), '');
  if (r.footprint?.length) parts.push('### Sidecar footprint', '', footprintTable(r.footprint), '');
  if (r.churn) parts.push('### Process churn', '', churnTable(r.churn), '');
  for (const x of r.extra) parts.push(`### ${x.title}`, '', x.markdown.trim(), '');
  for (const e of r.errors) parts.push(`- ${e.section} failed: ${e.error.split('\n')[0]}`);
  return parts.join('\n').trimEnd() + '\n';
}

/** The committed page of results, bench/RESULTS.md: renderMarkdown's tables under a heading that
 * says where they come from (the README links to it). */
export function resultsPage(r: BenchResults, md = renderMarkdown(r), opts: { quick?: boolean } = {}): string {
  const kept = earlierRuns(r).flatMap((e) => e.sections);
  const from = kept.length ? `The figures below are from one run, except the sections kept from an earlier run (${kept.join(', ')}).` : 'The figures below are from one run.';
  return [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` (\`bench/run.ts\`), which measures each cost beside its baseline in the same run (\`--quick\` for a shorter pass; \`--only\` reruns some sections and keeps the others from \`bench/results/latest.json\`, which is not committed). ${from}${opts.quick ? ' This was a quick pass (`--quick`: fewer loads, processes and repetitions).' : ''} How the benchmark fits with the tests: [docs/testing.md](../docs/testing.md#benchmarks).`,
    '',
    md.replace(/^### /gm, '## ').trimEnd(),
    '',
  ].join('\n');
}
