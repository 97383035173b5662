// The whole configuration: the core keys and each probe's part (probes.<name>.*), its type
// inferred from that one schema.
import { ConfigError, loadConfigFrom, type LoadedConfig, type LoadOptions } from '../config/load.ts';
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
  const loaded = loadConfigFrom(SCHEMA, opts);
  checkTogether(loaded);
  return loaded;
}

/** Keys valid alone but not together; the error names where each value came from. */
function checkTogether({ config: c, origin }: LoadedConfig<Config>): void {
  const o = c.otlp;
  // The default batch shrinks to a smaller queue (as the SDK's does); one asked for is refused.
  if (o.max_export_batch_size > o.max_queue_size && origin('otlp.max_export_batch_size') !== 'default') {
    throw new ConfigError(`otlp.max_export_batch_size (from ${origin('otlp.max_export_batch_size')}) is ${o.max_export_batch_size}, more than otlp.max_queue_size (from ${origin('otlp.max_queue_size')}) ${o.max_queue_size}: a batch is taken from the queue, so lower it`);
  }
  const intervalMs = o.export_interval_ms || Math.round(c.interval * 1000);
  if (o.metric_export_timeout_ms > intervalMs) {
    throw new ConfigError(`otlp.metric_export_timeout_ms (from ${origin('otlp.metric_export_timeout_ms')}) is ${o.metric_export_timeout_ms}, longer than the metric export interval ${intervalMs} ms: an export must end before the next begins, so lower it or raise the interval`);
  }
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
