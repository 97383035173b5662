// What a probe is to the rest of the product: one module object per probe folder
// (src/probes/<probe>/index.ts). The registry lists them; the config schema, the command line,
// --help and which probes run are all derived from these objects.
import type { Infer } from '../config/schema.ts';
import type { KernelInfo } from '../host/kernel.ts';
import type { RecordExporter } from '../runtime/exporter.ts';
import type { ProbeDefinition } from '../runtime/probe.ts';
import type { ExportContext } from '../telemetry/export-context.ts';

/** A command-line flag of a probe. */
export interface ProbeFlag {
  /** Long name without the dashes. */
  name: string;
  short?: string;
  type: 'boolean' | 'string';
  multiple?: boolean;
  /** The key under probes.<probe> it sets (none: it only selects the probe). */
  key?: string;
  /** The raw value(s) to the key's value (default: numerals become numbers). */
  value?(raw: string | string[] | boolean): unknown;
  /** The argument's name in --help (PID, N, FILE). */
  arg?: string;
  help: string;
  /** Naming it on the command line runs this probe (-s, -l PID). */
  selects?: boolean;
}

export interface ConsoleContext<C> {
  write(line: string): void;
  /** Put before each line when several probes share the terminal. */
  prefix: string;
  config: C;
  kernel: KernelInfo;
  /** -v: the console says more (for instance where each hook was attached, in every report). */
  verbose: boolean;
}

export interface ProbeModule<R, S extends object, N extends string = string> {
  name: N;
  /** One line for --help: what it watches. */
  summary: string;
  definition: ProbeDefinition<R, Infer<S>>;
  /** Its part of the config schema: probes.<name>.* */
  config: S;
  flags: readonly ProbeFlag[];
  /** --help's heading for its options besides the selecting flag (none: no such section). */
  optionsTitle?: string;
  /** Whether the config runs it. */
  enabled(config: Infer<S>): boolean;
  /** Before any BPF call, when it runs: what the user named (pids, files) must exist; throws EnvironmentError. */
  check?(config: Infer<S>): void;
  metrics?(ctx: ExportContext<Infer<S>>): RecordExporter<R>;
  spans?(ctx: ExportContext<Infer<S>>): RecordExporter<R>;
  console?(ctx: ConsoleContext<Infer<S>>): RecordExporter<R>;
}

/** Keeps the module's record and config types while the registry holds them side by side. */
export function defineProbe<R, S extends object, const N extends string>(m: ProbeModule<R, S, N>): ProbeModule<R, S, N> {
  return m;
}
