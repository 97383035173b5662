// Builds the effective configuration: defaults < config/default.json < -c file < environment
// (OTEL_* then MEMWATCHER_*) < flags. Every failure is one ConfigError line naming what to fix.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { convict, schemaWithEnv, keyPaths, envName, type Infer } from './schema.ts';
import { maskUrlCredentials } from '../log.ts';
import { OTEL_ENV_KEYS, OTEL_ENV_UNSUPPORTED, translateOtelValue } from './otel-env.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(maskUrlCredentials(message));
    this.name = 'ConfigError';
  }
}

export const DEFAULT_CONFIG_FILE = join(import.meta.dirname, '../../config/default.json');

/** MEMWATCHER_* variables that are not config keys (developer overrides of paths). */
const NON_KEY_ENV = new Set(['MEMWATCHER_LIBBPF', 'MEMWATCHER_BPF_DIR', 'MEMWATCHER_KERNEL_TEST', 'MEMWATCHER_RINGBUF_CONSUMER']);

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, by key path. */
  flags?: Record<string, unknown>;
  /** Which flag set a key, for error messages. */
  flagNames?: Record<string, string>;
  defaultFile?: string;
}

export interface LoadedConfig<C> {
  config: C;
  /** Where a key's value came from: default, a file, an environment variable or a flag. */
  origin(path: string): string;
  /** The effective config with secrets masked (what --print-config prints). */
  printable(): Record<string, unknown>;
}

/** Loads the config `schema` describes (the app assembles it: the core keys and each probe's). */
export function loadConfigFrom<S extends object>(schema: S, opts: LoadOptions = {}): LoadedConfig<Infer<S>> {
  const env = opts.env ?? process.env;
  const origins = new Map<string, string>();
  const effectiveEnv: Record<string, string> = {};
  const keys = new Set(keyPaths(schema));

  for (const [variable, why] of Object.entries(OTEL_ENV_UNSUPPORTED)) {
    if ((env[variable] ?? '').trim() !== '') throw new ConfigError(`${variable} is not supported by mem-watcher (${why}): unset it`);
  }
  for (const [variable, path] of OTEL_ENV_KEYS) {
    const v = env[variable];
    if (v !== undefined && v.trim() !== '' && env[envName(path)] === undefined) {
      try {
        effectiveEnv[envName(path)] = translateOtelValue(variable, v);
      } catch (err) {
        throw new ConfigError(`${variable} (${path}) ${(err as Error).message}: fix or unset it`);
      }
      origins.set(path, variable);
    }
  }
  const envByName = new Map([...keys].map((k) => [envName(k), k]));
  for (const [name, v] of Object.entries(env)) {
    if (!name.startsWith('MEMWATCHER_') || v === undefined) continue;
    const path = envByName.get(name);
    if (!path) {
      if (NON_KEY_ENV.has(name) || /^MEMWATCHER_(GUEST_|IN_GUEST$|TEST_)/.test(name)) continue; // test harness variables
      throw new ConfigError(`unknown environment variable ${name}: unset it (mem-watcher --print-config lists the variables)`);
    }
    effectiveEnv[name] = v;
    origins.set(path, name);
  }

  let conf;
  try {
    conf = convict(schemaWithEnv(schema) as never, { env: effectiveEnv, args: [] });
  } catch (err) {
    throw new ConfigError(oneLine(err, origins));
  }

  for (const [file, label] of [
    [opts.defaultFile ?? DEFAULT_CONFIG_FILE, 'default config'],
    [opts.file, 'config file'],
  ] as const) {
    if (!file) continue;
    const obj = readJsonFile(file, label, label === 'default config');
    if (obj === undefined) continue;
    // convict merges an object given for a key into nothing, silently ({"exporters": {}}).
    const misplaced = objectsAt(obj).find((path) => keys.has(path));
    if (misplaced) throw new ConfigError(`${file}: ${misplaced} must be a value, not an object: fix its type (mem-watcher --print-config shows the expected shape)`);
    for (const path of leafPaths(obj)) if (!origins.has(path) || !origins.get(path)!.startsWith('MEMWATCHER_') && !origins.get(path)!.startsWith('OTEL_')) origins.set(path, file);
    try {
      conf.load(obj);
    } catch (err) {
      throw new ConfigError(`${file}: ${oneLine(err, origins)}`);
    }
  }

  for (const [path, value] of Object.entries(opts.flags ?? {})) {
    if (value === undefined) continue;
    // A repeated flag names one thing once (-l 42 -l 42 attached two sets of uprobes).
    conf.set(path as never, (Array.isArray(value) ? [...new Set(value)] : value) as never);
    origins.set(path, opts.flagNames?.[path] ?? `flag for ${path}`);
  }

  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(oneLine(err, origins));
  }

  const config = conf.getProperties() as Infer<S>;
  return {
    config,
    origin: (path) => origins.get(path) ?? 'default',
    printable: () => JSON.parse(maskUrlCredentials(conf.toString())) as Record<string, unknown>,
  };
}

/** Bounds on a config file: ours is a few KiB and four levels deep. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
export const MAX_CONFIG_DEPTH = 32;

/** Reads a regular file of at most MAX_CONFIG_BYTES. Opened non-blocking and checked before any
 * read: a FIFO would hang the start, /dev/zero would grow until the OOM killer came. */
function readBounded(file: string, label: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ConfigError(`${label} ${file} is a directory: pass a JSON file`);
    if (!st.isFile()) throw new ConfigError(`${label} ${file} is not a regular file (a FIFO, device or socket): pass a JSON file`);
    const tooBig = () => new ConfigError(`${label} ${file} is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB: pass the config file itself (a few KiB)`);
    if (st.size > MAX_CONFIG_BYTES) throw tooBig();
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > MAX_CONFIG_BYTES) throw tooBig(); // grew while read
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** Deepest nesting of objects and arrays in JSON text (brackets inside strings ignored). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') max = Math.max(max, ++depth);
    else if (c === '}' || c === ']') depth--;
  }
  return max;
}

function readJsonFile(file: string, label: string, optional: boolean): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readBounded(file, label);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (optional && code === 'ENOENT') return undefined;
    if (code === 'ENOENT') throw new ConfigError(`${label} ${file} does not exist: check the path given to -c`);
    if (code === 'EACCES') throw new ConfigError(`${label} ${file} is not readable: fix its permissions`);
    throw new ConfigError(`${label} ${file} cannot be read (${code ?? (err as Error).message})`);
  }
  if (jsonDepth(text) > MAX_CONFIG_DEPTH) throw new ConfigError(`${label} ${file} nests deeper than ${MAX_CONFIG_DEPTH} levels: config keys are at most four levels deep (mem-watcher --print-config shows the shape)`);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${label} ${file} is not valid JSON (${(err as Error).message}): fix the syntax`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new ConfigError(`${label} ${file} must hold a JSON object of config keys`);
  }
  return obj as Record<string, unknown>;
}

function leafPaths(obj: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...leafPaths(v as Record<string, unknown>, path));
    else out.push(path);
  }
  return out;
}

/** Paths of the object values in a file (a key's value there is a nested object). */
function objectsAt(obj: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) out.push(path, ...objectsAt(v as Record<string, unknown>, path));
  }
  return out;
}

/** convict reports several problems on several lines; we report the first, with its source. */
function oneLine(err: unknown, origins: Map<string, string>): string {
  const first = String((err as Error).message ?? err).split('\n').map((l) => l.trim()).find((l) => l !== '') ?? 'invalid configuration';
  const unknownKey = /^configuration param '([^']+)' not declared in the schema/.exec(first);
  if (unknownKey) return `unknown config key ${unknownKey[1]}: remove it or fix its name (mem-watcher --print-config lists the keys)`;
  const m = /^([\w.]+): (.*)$/.exec(first);
  if (m) {
    const [, path, problem] = m;
    const src = origins.get(path!) ?? 'default';
    return `${path} (from ${src}) ${short(problem!.replace(/: value was .*$/, '').replace(/^must be of type (\w+)/, 'must be a $1'))}${valueSuffix(first)}`;
  }
  return short(first);
}

/** A validator's message may quote the value (a megabyte of it): keep the line a line. */
function short(text: string): string {
  return text.length > 200 ? text.slice(0, 197) + '...' : text;
}

function valueSuffix(line: string): string {
  const m = /: value was (.*)$/.exec(line);
  return m ? `, got ${m[1]!.length > 60 ? m[1]!.slice(0, 57) + '...' : m[1]}` : '';
}
