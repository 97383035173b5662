// The whole configuration: the core keys and each probe's part (probes.<name>.*), its type
// inferred from that one schema.
import { loadConfigFrom, type LoadedConfig, type LoadOptions } from '../config/load.ts';
import { CORE_SCHEMA, keyPaths as schemaKeyPaths, type Infer } from '../config/schema.ts';
import { PROBES, type AnyProbe } from './registry.ts';

type ProbesSchema = { [M in (typeof PROBES)[number] as M['name']]: M['config'] };

const { exporters, interval, duration, verbose, ...outputs } = CORE_SCHEMA;

export const SCHEMA = {
  exporters, interval, duration, verbose,
  probes: Object.fromEntries(PROBES.map((p) => [p.name, p.config])) as ProbesSchema,
  ...outputs,
};

export type Config = Infer<typeof SCHEMA>;

export function loadConfig(opts: LoadOptions = {}): LoadedConfig<Config> {
  return loadConfigFrom(SCHEMA, opts);
}

/** Every key path, in schema order. */
export function keyPaths(): string[] {
  return schemaKeyPaths(SCHEMA);
}

/** A probe's own section of the config. */
export function sectionOf(config: Config, p: AnyProbe): unknown {
  return (config.probes as Record<string, unknown>)[p.name];
}

/** Probes the config enables, in registry order. */
export function enabledProbes(config: Config): AnyProbe[] {
  return PROBES.filter((p) => (p.enabled as (c: unknown) => boolean)(sectionOf(config, p)));
}
