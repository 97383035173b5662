// Every config key, through every channel (environment variable, config file, command-line
// flag), with wrong types, out-of-range values, empty strings, huge values and unknown keys.
// The matrix is generated from the schema: each key's format decides its bad values, and a
// format this file does not know fails the test, so a new key cannot go untested. Every bad
// value must be refused with one ConfigError line naming the key and where the value came
// from, without echoing a secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/load.ts';
import { loadConfig } from '../../src/app/config.ts';
import { envName } from '../../src/config/schema.ts';
import { keyPaths, SCHEMA as schema } from '../../src/app/config.ts';
import { OTEL_ENV_KEYS, OTEL_ENV_UNSUPPORTED } from '../../src/config/otel-env.ts';
import { parseCli, UsageError } from '../../src/cli/args.ts';

interface SchemaNode { format: unknown; default: unknown; sensitive?: boolean }

const dir = mkdtempSync(join(tmpdir(), 'mw-config-matrix-'));
const NO_DEFAULT_FILE = join(dir, 'absent.json');
const SECRET = 'S3CRET-T0KEN';
const HUGE = 'x'.repeat(1 << 20);

function nodeOf(path: string): SchemaNode {
  return path.split('.').reduce<Record<string, unknown>>((n, p) => n[p] as Record<string, unknown>, schema as unknown as Record<string, unknown>) as unknown as SchemaNode;
}

/** The format's name: a convict format string, a list of allowed values, a type, or a range validator. */
function formatOf(n: SchemaNode): string {
  if (Array.isArray(n.format)) return 'one-of';
  if (n.format === String) return 'free-string';
  if (typeof n.format === 'string' && /^(integer|number) -?[\d.e+]+\.\.[\d.e+]+$/.test(n.format)) return 'number-range';
  return String(n.format);
}

/** Bad values per format: as an environment variable (a string) and as a JSON value in a file. */
const BAD: Record<string, { env: string[]; file: unknown[] }> = {
  'number-range': { env: ['', ' ', 'abc', 'NaN', 'Infinity', '-1e308', '1e308', '0x10', '1,5', HUGE], file: ['abc', '', true, null, [], [1], -1e308, 1e308] },
  'strict-boolean': { env: ['', 'maybe', '2', 'tru', 'yes please', HUGE], file: ['maybe', 2, 0.5, null, [], [true]] },
  'one-of': { env: ['', 'bogus', 'AUTO-', HUGE], file: [5, true, null, 'bogus', ['auto']] },
  'pid-list': { env: ['abc', '0', '-1', '1.5', '99999999999999999999', '1,,x', HUGE], file: [[0], [-3], ['a'], [1.5], 'abc', true, 7.5] },
  'string-list': { env: [], file: [[''], [5], [null], true, 5, [['a']]] },
  'exporter-list': { env: ['', ' ', 'kafka', 'console,kafka', HUGE], file: [[], ['kafka'], 5, true, [5]] },
  'http-url': { env: ['', ' ', 'localhost:4318', 'ftp://host/x', 'http://', 'not a url', HUGE], file: [5, true, [], ''] },
  'optional-http-url': { env: ['x', 'ftp://host', 'http://', HUGE], file: [5, true, []] },
  'key-value-list': { env: [`novalue-${SECRET}`, `a=1,${SECRET}`, `=${SECRET}`, `a=1,,b${SECRET}`], file: [5, true, [], `k=v,${SECRET}`] },
  'header-list': { env: [`novalue-${SECRET}`, `a=1,${SECRET}`, `=${SECRET}`, `a=1,,b${SECRET}`, `x-key=${SECRET}\r\nx-evil: 1`, `x-key=${SECRET}%0D%0Ax-evil:1`, `x-key=${SECRET}\n`, `bad name=${SECRET}`, `x:y=${SECRET}`], file: [5, true, [], `k=v,${SECRET}`, `k=${SECRET}\r\nx: 1`] },
  'tcp-port': { env: ['', '0', '70000', '1e308', '1.5', 'abc', '-1', HUGE], file: ['abc', 0, 70000, 1.5, -1, true, []] },
  'host': { env: ['', ' ', 'bad host!', 'a..b', '-leading', HUGE], file: [5, true, [], ''] },
  'non-empty-string': { env: ['', '   '], file: ['', 5, true, []] },
  'free-string': { env: [], file: [5, true, [], null] },
};

/** The config file with `value` at `path`. */
function fileWith(path: string, value: unknown): string {
  const obj = path.split('.').reduceRight<unknown>((inner, k) => ({ [k]: inner }), value);
  const f = join(dir, `${path}.json`);
  writeFileSync(f, JSON.stringify(obj));
  return f;
}

function refusal(load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${(err as Error).stack}`);
    return err;
  }
  assert.fail('accepted');
}

function assertGoodMessage(e: ConfigError, mentions: string[], what: string, secret = true): void {
  assert.doesNotMatch(e.message, /\n/, `${what}: one line`);
  assert.ok(e.message.length < 400, `${what}: a short line, got ${e.message.length} characters`);
  for (const m of mentions) assert.ok(e.message.includes(m), `${what}: names ${m}: ${e.message}`);
  if (secret) assert.ok(!e.message.includes(SECRET), `${what}: does not echo a secret: ${e.message}`);
}

const show = (v: unknown) => (typeof v === 'string' && v.length > 40 ? `"${v.slice(0, 10)}..." (${v.length} chars)` : JSON.stringify(v));

test('every key\'s format is known to this matrix (a new format needs bad values here)', () => {
  const unknown = keyPaths().filter((p) => !(formatOf(nodeOf(p)) in BAD)).map((p) => `${p}: ${formatOf(nodeOf(p))}`);
  assert.deepEqual(unknown, []);
});

test('every key: its default, given back through its environment variable and a file, is accepted', () => {
  for (const path of keyPaths()) {
    const d = nodeOf(path).default;
    const asEnv = Array.isArray(d) ? d.join(',') : String(d);
    if (!(Array.isArray(d) && d.length === 0) && asEnv !== '') loadConfig({ env: { [envName(path)]: asEnv }, defaultFile: NO_DEFAULT_FILE });
    loadConfig({ env: {}, file: fileWith(path, d), defaultFile: NO_DEFAULT_FILE });
  }
});

test('every key through its MEMWATCHER_ variable: wrong types, out of range, empty, huge: refused, naming the variable', () => {
  let cases = 0;
  for (const path of keyPaths()) {
    const variable = envName(path);
    for (const v of BAD[formatOf(nodeOf(path))]!.env) {
      const e = refusal(() => loadConfig({ env: { [variable]: v }, defaultFile: NO_DEFAULT_FILE }));
      assertGoodMessage(e, [path, variable], `${variable}=${show(v)}`, nodeOf(path).sensitive === true);
      cases++;
    }
  }
  assert.ok(cases > 150, `${cases} cases`);
});

test('every key in a config file: wrong JSON types, out of range, an object where a value goes: refused, naming the file', () => {
  let cases = 0;
  for (const path of keyPaths()) {
    for (const v of [...BAD[formatOf(nodeOf(path))]!.file, { nested: 1 }, {}]) {
      const f = fileWith(path, v);
      const e = refusal(() => loadConfig({ env: {}, file: f, defaultFile: NO_DEFAULT_FILE }));
      assertGoodMessage(e, [path, f], `${path}: ${show(v)} in a file`, nodeOf(path).sensitive === true);
      cases++;
    }
  }
  assert.ok(cases > 250, `${cases} cases`);
});

test('the OTEL_* variables: bad values name the OTEL variable and the key', () => {
  for (const [variable, path] of OTEL_ENV_KEYS) {
    const bad = BAD[formatOf(nodeOf(path))]!.env.filter((v) => v.trim() !== ''); // empty OTEL_* means unset
    for (const v of bad) {
      const e = refusal(() => loadConfig({ env: { [variable]: v }, defaultFile: NO_DEFAULT_FILE }));
      assertGoodMessage(e, [path, variable], `${variable}=${show(v)}`, nodeOf(path).sensitive === true);
    }
  }
});

test('OTEL_* variables of the spec not honoured are refused in one line naming them, never ignored', () => {
  for (const variable of Object.keys(OTEL_ENV_UNSUPPORTED)) {
    assertGoodMessage(refusal(() => loadConfig({ env: { [variable]: '1' }, defaultFile: NO_DEFAULT_FILE })), [variable, 'not supported'], variable);
    loadConfig({ env: { [variable]: '' }, defaultFile: NO_DEFAULT_FILE }); // empty means unset (the spec's rule)
  }
});

test('OTEL_TRACES_EXPORTER: every value of the list counts: repeats collapse, two destinations are refused', () => {
  assert.equal(loadConfig({ env: { OTEL_TRACES_EXPORTER: 'otlp, otlp' }, defaultFile: NO_DEFAULT_FILE }).config.traces.exporter, 'otlp');
  assertGoodMessage(refusal(() => loadConfig({ env: { OTEL_TRACES_EXPORTER: 'otlp,console' }, defaultFile: NO_DEFAULT_FILE })), ['OTEL_TRACES_EXPORTER', 'traces.exporter'], 'list');
});

test('OTEL_BSP_MAX_QUEUE_SIZE and OTEL_EXPORTER_PROMETHEUS_{HOST,PORT} set their keys; a MEMWATCHER_ variable wins', () => {
  const c = loadConfig({ env: { OTEL_BSP_MAX_QUEUE_SIZE: '77', OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: '9999' }, defaultFile: NO_DEFAULT_FILE });
  assert.equal(c.config.otlp.max_queue_size, 77);
  assert.equal(c.config.prometheus.host, '127.0.0.1');
  assert.equal(c.config.prometheus.port, 9999);
  assert.equal(c.origin('prometheus.port'), 'OTEL_EXPORTER_PROMETHEUS_PORT');
  const w = loadConfig({ env: { OTEL_EXPORTER_PROMETHEUS_PORT: '9999', MEMWATCHER_PROMETHEUS_PORT: '9000' }, defaultFile: NO_DEFAULT_FILE });
  assert.equal(w.config.prometheus.port, 9000);
});

test('the SDK spec\'s remaining variables set their keys, with their source', () => {
  const env = {
    OTEL_SDK_DISABLED: 'TRUE',
    OTEL_LOG_LEVEL: 'Debug',
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '1500',
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2500',
    OTEL_METRIC_EXPORT_INTERVAL: '60000',
    OTEL_METRIC_EXPORT_TIMEOUT: '30000',
    OTEL_BSP_SCHEDULE_DELAY: '700',
    OTEL_BSP_EXPORT_TIMEOUT: '9000',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '3',
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100',
    OTEL_ATTRIBUTE_COUNT_LIMIT: '20',
    OTEL_SPAN_EVENT_COUNT_LIMIT: '5',
    OTEL_SPAN_LINK_COUNT_LIMIT: '6',
    OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: '7',
    OTEL_LINK_ATTRIBUTE_COUNT_LIMIT: '8',
  };
  const c = loadConfig({ env, defaultFile: NO_DEFAULT_FILE });
  const o = c.config.otlp;
  const t = c.config.traces;
  assert.deepEqual(
    [c.config.sdk.disabled, c.config.log.level, o.metrics_timeout_ms, o.traces_timeout_ms, o.metric_export_timeout_ms, o.schedule_delay_ms, o.span_export_timeout_ms, o.max_export_batch_size],
    [true, 'debug', 1500, 2500, 30000, 700, 9000, 3]);
  assert.deepEqual(
    [t.attribute_value_length_limit, t.attribute_count_limit, t.event_count_limit, t.link_count_limit, t.event_attribute_count_limit, t.link_attribute_count_limit],
    [100, 20, 5, 6, 7, 8]);
  assert.equal(c.origin('sdk.disabled'), 'OTEL_SDK_DISABLED');
  assert.equal(c.origin('traces.attribute_value_length_limit'), 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT');
  // The span-specific limits win over the general ones; a MEMWATCHER_ variable over both.
  const s = loadConfig({ env: { ...env, OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '50', OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '10' }, defaultFile: NO_DEFAULT_FILE });
  assert.equal(s.config.traces.attribute_value_length_limit, 50);
  assert.equal(s.config.traces.attribute_count_limit, 10);
  assert.equal(s.origin('traces.attribute_count_limit'), 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT');
  const m = loadConfig({ env: { ...env, OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '10', MEMWATCHER_TRACES_ATTRIBUTE_COUNT_LIMIT: '4' }, defaultFile: NO_DEFAULT_FILE });
  assert.equal(m.config.traces.attribute_count_limit, 4);
  // The spec's booleans: false is false; 1 is no spelling of true there, so it is refused, not guessed.
  assert.equal(loadConfig({ env: { OTEL_SDK_DISABLED: 'false' }, defaultFile: NO_DEFAULT_FILE }).config.sdk.disabled, false);
  assertGoodMessage(refusal(() => loadConfig({ env: { OTEL_SDK_DISABLED: '1' }, defaultFile: NO_DEFAULT_FILE })), ['OTEL_SDK_DISABLED', 'sdk.disabled', 'true or false'], 'OTEL_SDK_DISABLED=1');
});

test('keys valid alone but not together: a batch larger than the queue, a metric export timeout longer than its interval', () => {
  assertGoodMessage(refusal(() => loadConfig({ env: { OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' }, defaultFile: NO_DEFAULT_FILE })),
    ['otlp.max_export_batch_size', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'OTEL_BSP_MAX_QUEUE_SIZE'], 'batch > queue');
  assertGoodMessage(refusal(() => loadConfig({ env: { OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_METRIC_EXPORT_TIMEOUT: '5000' }, defaultFile: NO_DEFAULT_FILE })),
    ['otlp.metric_export_timeout_ms', 'OTEL_METRIC_EXPORT_TIMEOUT', 'interval'], 'timeout > interval');
});

test('unknown keys: a MEMWATCHER_ variable and a file key in every section are refused by name', () => {
  const sections = new Set(keyPaths().map((p) => p.split('.').slice(0, -1).join('.')));
  for (const section of sections) {
    const path = section ? `${section}.bogus_key` : 'bogus_key';
    const variable = envName(path);
    assertGoodMessage(refusal(() => loadConfig({ env: { [variable]: '1' }, defaultFile: NO_DEFAULT_FILE })), [variable], variable);
    assertGoodMessage(refusal(() => loadConfig({ env: {}, file: fileWith(path, 1), defaultFile: NO_DEFAULT_FILE })), [path], path);
  }
});

test('booleans: the usual spellings work, anything else is refused (MEMWATCHER_PROBES_SYSSTAT_ENABLED=0 used to enable it)', () => {
  const enabled = (v: string) => loadConfig({ env: { MEMWATCHER_PROBES_SYSSTAT_ENABLED: v }, defaultFile: NO_DEFAULT_FILE }).config.probes.sysstat.enabled;
  for (const v of ['true', 'TRUE', '1', 'yes', 'on']) assert.equal(enabled(v), true, v);
  for (const v of ['false', 'False', '0', 'no', 'off']) assert.equal(enabled(v), false, v);
});

test('command-line flags: bad values are one line naming the flag', () => {
  const samples: Array<[string[], string]> = [
    [['--interval', 'soon'], '--interval'],
    [['--interval', '0.01'], '--interval'],
    [['--interval', '5abc'], '--interval'],
    [['--interval', '1,5'], '--interval'],
    [['--duration', ''], '--duration'],
    [['--duration=-5'], '--duration'],
    [['--top', '0'], '--top'],
    [['--top', '1e9'], '--top'],
    [['--top', '99999999999999999999999'], '--top'],
    [['--pid', 'x'], '--pid'],
    [['--pid', '0'], '--pid'],
    [['-l', '-1'], '-l'],
    [['-l', '1.5'], '-l'],
    [['--comm', ''], '--comm'],
    [['--exporter', ''], '--exporter'],
    [['--exporter', 'console,kafka'], '--exporter'],
    [['--memleak-sample-rate', '0'], '--memleak-sample-rate'],
    [['--memleak-min-size', '-5'], '--memleak-min-size'],
    [['--memleak-stack-map-size', '99999999999'], '--memleak-stack-map-size'],
    [['--memleak-count', '1.5'], '--memleak-count'],
    [['--memleak-min-age', 'old'], '--memleak-min-age'],
    [['--memleak-command', '   '], '--memleak-command'],
    [['--memleak-command', ''], '--memleak-command'],
    [['--bogus'], '--bogus'],
    [['-s', 'extra'], 'extra'],
    [['--interval'], '--interval'],
  ];
  for (const [argv, flag] of samples) {
    let err: unknown;
    try {
      const cli = parseCli(argv);
      loadConfig({ env: {}, flags: cli.flags, flagNames: cli.flagNames, defaultFile: NO_DEFAULT_FILE });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof UsageError || err instanceof ConfigError, `${argv.join(' ')}: refused (got ${String(err)})`);
    const msg = (err as Error).message;
    assert.doesNotMatch(msg, /\n/, `${argv.join(' ')}: one line`);
    assert.ok(msg.includes(flag), `${argv.join(' ')}: names ${flag}: ${msg}`);
  }
});

test('secrets in header variables never appear in refusals, whatever is wrong with them', () => {
  for (const variable of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'MEMWATCHER_OTLP_HEADERS', 'MEMWATCHER_OTLP_METRICS_HEADERS', 'MEMWATCHER_OTLP_TRACES_HEADERS']) {
    for (const v of [`authorization=Bearer ${SECRET},${SECRET}`, `${SECRET}`, `=${SECRET}`, `x-api-key:${SECRET}`]) {
      const e = refusal(() => loadConfig({ env: { [variable]: v }, defaultFile: NO_DEFAULT_FILE }));
      assertGoodMessage(e, [variable], variable);
    }
  }
});
