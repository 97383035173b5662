// The command line: the original tool's flags (-a -p -r -s -l PID, combinable) and ours,
// turned into config values by key path. Config validation happens once, in config/load.ts.
import { parseArgs } from 'node:util';
import type { ProbeName } from '../runtime/probe.ts';

export class UsageError extends Error {}

const OPTIONS = {
  paf: { type: 'boolean', short: 'a' },
  pr: { type: 'boolean', short: 'p' },
  procstat: { type: 'boolean', short: 'r' },
  sysstat: { type: 'boolean', short: 's' },
  memleak: { type: 'string', short: 'l', multiple: true },
  pid: { type: 'string', multiple: true },
  comm: { type: 'string', multiple: true },
  top: { type: 'string' },
  config: { type: 'string', short: 'c' },
  exporter: { type: 'string', multiple: true },
  duration: { type: 'string' },
  interval: { type: 'string' },
  'print-config': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  'memleak-lib': { type: 'string' },
  'memleak-prefix': { type: 'string' },
  'memleak-command': { type: 'string' },
  'memleak-top': { type: 'string' },
  'memleak-min-size': { type: 'string' },
  'memleak-max-size': { type: 'string' },
  'memleak-min-age': { type: 'string', short: 'o' },
  'memleak-sample-rate': { type: 'string' },
  'memleak-combined-only': { type: 'boolean' },
  'memleak-trace': { type: 'boolean', short: 't' },
  'memleak-kernel': { type: 'boolean' },
  'memleak-count': { type: 'string' },
  'memleak-stack-map-size': { type: 'string' },
  'memleak-pprof': { type: 'string' },
} as const;

/** Flag -> config key path, for flags that set one key. */
const FLAG_KEYS: Record<string, string> = {
  top: 'probes.procstat.top',
  duration: 'duration',
  interval: 'interval',
  'memleak-lib': 'probes.memleak.lib',
  'memleak-prefix': 'probes.memleak.symbol_prefix',
  'memleak-top': 'probes.memleak.top',
  'memleak-min-size': 'probes.memleak.min_size',
  'memleak-max-size': 'probes.memleak.max_size',
  'memleak-min-age': 'probes.memleak.min_age_ms',
  'memleak-sample-rate': 'probes.memleak.sample_rate',
  'memleak-combined-only': 'probes.memleak.combined_only',
  'memleak-trace': 'probes.memleak.trace',
  'memleak-kernel': 'probes.memleak.kernel',
  'memleak-count': 'probes.memleak.report_count',
  'memleak-stack-map-size': 'probes.memleak.stack_map_size',
  'memleak-pprof': 'probes.memleak.pprof',
};

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

export function parseCli(argv: string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '').replace(/\.$/, '');
    throw new UsageError(`${msg}: see mem-watcher --help`);
  }
  const v = parsed.values;
  const flags: Record<string, unknown> = {};
  const flagNames: Record<string, string> = {};
  const set = (path: string, value: unknown, flag: string) => {
    flags[path] = value;
    flagNames[path] = flag;
  };

  for (const [flag, path] of Object.entries(FLAG_KEYS)) {
    const value = (v as Record<string, unknown>)[flag];
    if (value === undefined) continue;
    set(path, typeof value === 'string' ? numeric(value) : value, `--${flag}`);
  }
  if (v.pid) set('probes.procstat.pids', v.pid.map(numeric), '--pid');
  if (v.comm) set('probes.procstat.comms', v.comm, '--comm');
  if (v.exporter) set('exporters', v.exporter.flatMap((e) => e.split(',')), '--exporter');
  if (v.memleak) set('probes.memleak.pids', v.memleak.map(numeric), '-l/--memleak');
  if (v['memleak-command'] !== undefined) {
    const cmd = v['memleak-command'].trim().split(/\s+/).filter(Boolean);
    if (cmd.length === 0) throw new UsageError('--memleak-command needs a program to run, e.g. --memleak-command "./server --port 8080"');
    set('probes.memleak.command', cmd, '--memleak-command');
  }
  if (v.verbose) set('verbose', true, '-v');

  const probes: ProbeName[] = [];
  if (v.paf) probes.push('paf');
  if (v.pr) probes.push('pr');
  if (v.procstat) probes.push('procstat');
  if (v.sysstat) probes.push('sysstat');
  if (v.memleak || v['memleak-command'] || v['memleak-kernel']) probes.push('memleak');

  return {
    configFile: v.config,
    printConfig: v['print-config'] ?? false,
    help: v.help ?? false,
    version: v.version ?? false,
    verbose: v.verbose ?? false,
    probes,
    flags,
    flagNames,
  };
}

export const USAGE = `Usage: mem-watcher [probes] [options]

Probes (combinable; with none, procstat, sysstat, paf and pr run):
  -a, --paf                 page allocation failures
  -p, --pr                  page reclaim
  -r, --procstat            per-process memory
  -s, --sysstat             system memory
  -l, --memleak PID         outstanding allocations of process PID (repeatable)

procstat filters:
      --pid PID             always report this process (repeatable)
      --comm NAME           always report processes named NAME (repeatable)
      --top N               report the N largest processes by RSS (default 50)

memleak options:
      --memleak-command CMD run CMD (split on spaces, no shell) and trace it
      --memleak-lib PATH    allocator library to attach to (default: the libc the process maps)
      --memleak-prefix P    allocator symbol prefix (je_ for prefixed jemalloc)
      --memleak-top N       stacks per report (default 10)
      --memleak-min-size B  / --memleak-max-size B   size filter in bytes
  -o, --memleak-min-age MS  report allocations older than MS milliseconds
      --memleak-sample-rate N  trace one allocation in N
      --memleak-combined-only  per-stack totals only
  -t, --memleak-trace       print every allocation and free
      --memleak-kernel      trace kernel allocations instead
      --memleak-count N     stop after N reports
      --memleak-stack-map-size N   distinct stacks kept
      --memleak-pprof FILE  write outstanding allocations as a gzipped pprof profile

Output and run:
      --exporter NAME       console | otlp | prometheus | none (repeatable; default console)
      --interval SECONDS    report period (default 5)
      --duration SECONDS    stop cleanly after this long
  -c, --config FILE         JSON config file (keys as --print-config shows)
      --print-config        print the effective config (secrets masked) and exit
  -v, --verbose             debug log, libbpf log, stack traces
  -h, --help                this help
      --version             print the version

Every config key also has an environment variable: MEMWATCHER_<KEY_PATH>, e.g.
MEMWATCHER_PROBES_MEMLEAK_PIDS=1234. The standard OTEL_* variables are honoured.
Exit codes: 0 clean stop, 1 runtime failure, 2 bad flags, config or environment.
`;
