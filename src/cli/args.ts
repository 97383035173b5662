// The command line: the original tool's flags (-a -p -r -s -l PID, combinable) and ours, turned
// into config values by key path. Each probe brings its own flags (src/probes/<probe>/index.ts);
// config validation happens once, in config/load.ts.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { PROBES, type ProbeName } from '../app/registry.ts';
import type { ProbeFlag } from '../probes/module.ts';

export class UsageError extends Error {}

/** A flag of the run itself: a probe flag's shape, its key a whole key path. */
type RunFlag = Omit<ProbeFlag, 'selects'>;

/** Flags that are not a probe's. */
const RUN_FLAGS: readonly RunFlag[] = [
  { name: 'exporter', type: 'string', multiple: true, key: 'exporters', value: (v) => (v as string[]).flatMap((e) => e.split(',')), arg: 'NAME', help: 'console | otlp | prometheus | none (repeatable; default console)' },
  { name: 'interval', type: 'string', key: 'interval', arg: 'SECONDS', help: 'report period (default 5)' },
  { name: 'duration', type: 'string', key: 'duration', arg: 'SECONDS', help: 'stop cleanly after this long' },
  { name: 'config', short: 'c', type: 'string', arg: 'FILE', help: 'JSON config file (keys as --print-config shows)' },
  { name: 'print-config', type: 'boolean', help: 'print the effective config (secrets masked) and exit' },
  { name: 'verbose', short: 'v', type: 'boolean', key: 'verbose', help: 'debug log, libbpf log, stack traces' },
  { name: 'help', short: 'h', type: 'boolean', help: 'this help' },
  { name: 'version', type: 'boolean', help: 'print the version' },
];

interface ProbeFlagOf {
  probe: ProbeName;
  flag: ProbeFlag;
}

const PROBE_FLAGS: readonly ProbeFlagOf[] = PROBES.flatMap((p) => p.flags.map((flag) => ({ probe: p.name, flag })));

const OPTIONS: ParseArgsOptionsConfig = Object.fromEntries([
  ...RUN_FLAGS,
  ...PROBE_FLAGS.map((f) => f.flag),
].map((f) => [f.name, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }]));

export interface CliArgs {
  configFile?: string;
  printConfig: boolean;
  help: boolean;
  version: boolean;
  verbose: boolean;
  /** Probes named by flags; empty when none was (the config decides). */
  probes: ProbeName[];
  /** Config values from flags, by key path. */
  flags: Record<string, unknown>;
  /** Which flag set each key path (for error messages). */
  flagNames: Record<string, string>;
}

/** "12" -> 12; anything else stays a string for the schema to reject with its own message. */
function numeric(v: string): number | string {
  return /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
}

function defaultValue(raw: string | string[] | boolean): unknown {
  if (typeof raw === 'boolean') return raw;
  return Array.isArray(raw) ? raw.map(numeric) : numeric(raw);
}

function flagLabel(f: { name: string; short?: string }): string {
  return f.short ? `-${f.short}/--${f.name}` : `--${f.name}`;
}

export function parseCli(argv: string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '').replace(/\.$/, '');
    throw new UsageError(`${msg}: see mem-watcher --help`);
  }
  const v = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const flags: Record<string, unknown> = {};
  const flagNames: Record<string, string> = {};
  const probes = new Set<ProbeName>();
  const set = (f: RunFlag | ProbeFlag, path: string | undefined, raw: string | string[] | boolean) => {
    if (!path) return;
    let value: unknown;
    try {
      value = (f.value ?? defaultValue)(raw);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    flags[path] = value;
    flagNames[path] = flagLabel(f);
  };
  for (const f of RUN_FLAGS) {
    const raw = v[f.name];
    if (raw !== undefined && !(f.type === 'boolean' && raw === false)) set(f, f.key, raw);
  }
  for (const { probe, flag } of PROBE_FLAGS) {
    const raw = v[flag.name];
    if (raw === undefined) continue;
    set(flag, flag.key ? `probes.${probe}.${flag.key}` : undefined, raw);
    if (flag.selects) probes.add(probe);
  }
  return {
    configFile: v.config as string | undefined,
    printConfig: (v['print-config'] as boolean | undefined) ?? false,
    help: (v.help as boolean | undefined) ?? false,
    version: (v.version as boolean | undefined) ?? false,
    verbose: (v.verbose as boolean | undefined) ?? false,
    // In registry order, whatever the order on the command line.
    probes: PROBES.map((p) => p.name).filter((p) => probes.has(p)),
    flags,
    flagNames,
  };
}

function helpLine(f: RunFlag | ProbeFlag): string {
  const names = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.arg ? ` ${f.arg}` : ''}`;
  return `  ${names.padEnd(30)} ${f.help}`;
}

function usage(): string {
  const defaults = PROBES.filter((p) => (p.enabled as (c: unknown) => boolean)(defaultConfigOf(p.config))).map((p) => p.name);
  const lines = [
    'Usage: mem-watcher [probes] [options]',
    '',
    `Probes (combinable; with none, ${defaults.slice(0, -1).join(', ')} and ${defaults.at(-1)} run):`,
    ...PROBE_FLAGS.filter((f) => f.flag.selects && f.flag.short).map((f) => helpLine(f.flag)),
  ];
  for (const p of PROBES) {
    const options = p.flags.filter((f) => !(f.selects && f.short));
    if (!p.optionsTitle || options.length === 0) continue;
    lines.push('', `${p.optionsTitle}:`, ...options.map(helpLine));
  }
  lines.push(
    '',
    'Output and run:',
    ...RUN_FLAGS.map(helpLine),
    '',
    'Every config key also has an environment variable: MEMWATCHER_<KEY_PATH>, e.g.',
    'MEMWATCHER_PROBES_MEMLEAK_PIDS=1234. The standard OTEL_* variables are honoured.',
    'Exit codes: 0 clean stop, 1 runtime failure, 2 bad flags, config or environment.',
    '',
  );
  return lines.join('\n');
}

/** A probe's config section with every key at its default. */
function defaultConfigOf(schema: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(schema).map(([k, leaf]) => [k, (leaf as { default: unknown }).default]));
}

export const USAGE = usage();
