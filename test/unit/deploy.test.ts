// Checks of the deployment files: docker-compose.yml (with docker-compose itself, then by
// reading it), the Collector pipeline, the Grafana dashboard's PromQL against the contract's
// metric names, the Prometheus config, the Kubernetes DaemonSet and the Dockerfile.
//
// Needs the devDependency `yaml` and Debian's `docker-compose` (1.29 validates compose files
// without a Docker engine).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXPORTERS, envName } from '../../src/config/schema.ts';
import { keyPaths, loadConfig } from '../../src/app/config.ts';
import { ATTR, METRIC, UNIT } from '../../src/telemetry/semconv.ts';

type YamlModule = typeof import('yaml');
let YAML: YamlModule;
try {
  YAML = await import('yaml');
} catch {
  throw new Error('test/unit/deploy.test.ts needs the npm package "yaml": npm install --save-dev yaml');
}

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

type Obj = Record<string, unknown>;
function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, what: string): Obj {
  assert.ok(isObj(v), `${what} must be a mapping`);
  return v;
}
function arr(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} must be a list`);
  return v;
}
function str(v: unknown, what: string): string {
  assert.equal(typeof v, 'string', `${what} must be a string`);
  return v as string;
}
function parseYaml(path: string): unknown {
  const doc = YAML.parseDocument(read(path));
  assert.deepEqual(doc.errors.map((e) => e.message), [], `${path} is not valid YAML`);
  return doc.toJS();
}

// ---------------------------------------------------------------------------------------------
// The contract's metrics (/work/shared/CONTRACT.md, "Telemetry"), with the kind and unit that
// decide their Prometheus names. Kept here so the test runs without the contract; when the
// contract is beside the repository, the list is checked against it.
type Kind = 'gauge' | 'updowncounter' | 'counter' | 'histogram';
interface ContractMetric {
  name: string;
  kind: Kind;
  unit: string;
}
const m = (name: string, kind: Kind, unit: string): ContractMetric => ({ name, kind, unit });
const CONTRACT_METRICS: ContractMetric[] = [
  m('process.memory.usage', 'updowncounter', 'By'),
  m('process.memory.virtual', 'updowncounter', 'By'),
  m('memwatcher.process.memory.rss', 'updowncounter', 'By'),
  m('memwatcher.process.memory.peak_rss', 'gauge', 'By'),
  ...['swap', 'data', 'stack', 'page_tables'].map((s) => m(`memwatcher.process.memory.${s}`, 'updowncounter', 'By')),
  m('memwatcher.system.memory.lru', 'updowncounter', 'By'),
  ...['dirty', 'writeback', 'writeback_tmp', 'anon', 'mapped', 'kernel_reclaimable', 'anon_thp', 'shmem_thp'].map((s) =>
    m(`memwatcher.system.memory.${s}`, 'updowncounter', 'By'),
  ),
  m('system.memory.linux.shared', 'updowncounter', 'By'),
  m('system.memory.linux.slab.usage', 'updowncounter', 'By'),
  m('system.memory.usage', 'updowncounter', 'By'),
  m('system.memory.utilization', 'gauge', '1'),
  m('system.memory.limit', 'updowncounter', 'By'),
  m('system.memory.linux.available', 'updowncounter', 'By'),
  m('memwatcher.page_alloc.failures', 'counter', '{failure}'),
  m('memwatcher.zone.watermark', 'gauge', '{page}'),
  m('memwatcher.zone.pages', 'gauge', '{page}'),
  ...['scanned', 'reclaimed', 'dirty', 'congested', 'writeback', 'immediate'].map((s) => m(`memwatcher.reclaim.${s}`, 'counter', '{page}')),
  m('memwatcher.reclaim.stall.duration', 'histogram', 's'),
  m('memwatcher.memleak.outstanding', 'updowncounter', 'By'),
  m('memwatcher.memleak.outstanding.count', 'updowncounter', '{allocation}'),
  m('memwatcher.oom.kills', 'counter', '{kill}'),
  m('memwatcher.memcg.events', 'counter', '{event}'),
  m('memwatcher.memory.pressure.stall', 'counter', 's'),
  m('memwatcher.growth', 'counter', 'By'),
  m('memwatcher.events.dropped', 'counter', '{event}'),
  m('memwatcher.events.received', 'counter', '{event}'),
  // A unit of "1" here would make the Collector's and Prometheus's translation append _ratio.
  m('memwatcher.probe.attached', 'gauge', '{probe}'),
];
// Data-point attributes the contract names, plus the per-process ones.
const CONTRACT_ATTRIBUTES = [
  'process.pid', 'process.executable.name', 'container.id', 'k8s.pod.uid',
  'memwatcher.rss.kind', 'memwatcher.lru.list', 'system.memory.linux.slab.state', 'system.memory.state',
  'memwatcher.alloc.order', 'memwatcher.alloc.gfp', 'memwatcher.zone.watermark.level',
  'memwatcher.numa.node', 'memwatcher.zone.name', 'memwatcher.reclaim.source',
  'memwatcher.probe', 'memwatcher.probe.strategy',
  'memwatcher.oom.constraint', 'memwatcher.memcg.event', 'memwatcher.pressure.scope',
];

/** Metric names in the contract's metrics table, abbreviations (`.swap`) expanded. */
function contractMetricNames(markdown: string): { metrics: string[]; attributes: string[] } {
  const metrics: string[] = [];
  const attributes: string[] = [];
  const start = markdown.indexOf('| probe | metric | kind |');
  assert.ok(start >= 0, 'the contract has a metrics table');
  for (const line of markdown.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    // A note on former names, "(renamed from `.bytes`/...)", names no metric emitted now.
    const cell = (line.split('|')[2] ?? '').replace(/\(renamed from [^)]*\)/g, '');
    let full: string | undefined;
    let attrMode = false;
    // Tokens in backticks, with the words just before each.
    const re = /(, and |with |attributes |[^`]*?)`([^`]+)`/g;
    for (let t = re.exec(cell); t; t = re.exec(cell)) {
      const before = t[1] ?? '';
      const tok = t[2] ?? '';
      if (/, and |\), $/.test(before)) attrMode = false;
      if (/with |attributes /.test(before)) attrMode = true;
      if (!tok.includes('.')) continue; // attribute values
      if (attrMode) {
        attributes.push(tok);
        continue;
      }
      if (tok.startsWith('.')) {
        assert.ok(full, `abbreviation ${tok} follows a full name`);
        metrics.push(full.slice(0, full.lastIndexOf('.')) + tok);
      } else {
        full = tok;
        metrics.push(tok);
      }
    }
  }
  return { metrics, attributes };
}

// Prometheus names of a metric, two ways:
//  - as @opentelemetry/exporter-prometheus (mem-watcher --exporter prometheus) writes them:
//    dots to underscores, _total on counters, no unit suffix (checked against the exporter in
//    node_modules: `memwatcher.system.memory.lru` (By) -> memwatcher_system_memory_lru);
//  - as the Collector's Prometheus exporters and Prometheus's OTLP receiver write them (the
//    default UnderscoreEscapingWithSuffixes): also a unit suffix (By -> bytes, s -> seconds)
//    unless the name already has that word, none for annotations like {page}, _ratio on
//    gauges of unit 1.
const UNIT_WORDS: Record<string, string> = { By: 'bytes', s: 'seconds', ms: 'milliseconds', '1': '' };
function seriesNames(base: string, kind: Kind): string[] {
  return kind === 'histogram' ? [`${base}_bucket`, `${base}_sum`, `${base}_count`] : [base];
}
function jsExporterNames(metric: ContractMetric): string[] {
  let base = metric.name.replace(/[^a-zA-Z0-9_:]/g, '_');
  if (metric.kind === 'counter' && !base.endsWith('_total')) base += '_total';
  return seriesNames(base, metric.kind);
}
function otlpTranslatedNames(metric: ContractMetric): string[] {
  let tokens = metric.name.split(/[^a-zA-Z0-9:]+/).filter((t) => t !== '');
  const annotation = /[{}]/.test(metric.unit) || metric.unit === '';
  assert.ok(!metric.unit.includes('/'), `per-units are not modelled here (${metric.name})`);
  const word = annotation ? '' : (UNIT_WORDS[metric.unit] ?? metric.unit);
  if (word !== '' && !tokens.includes(word)) tokens.push(word);
  if (metric.kind === 'counter') tokens = [...tokens.filter((t) => t !== 'total'), 'total'];
  if (metric.unit === '1' && (metric.kind === 'gauge' || metric.kind === 'updowncounter')) {
    tokens = [...tokens.filter((t) => t !== 'ratio'), 'ratio'];
  }
  return seriesNames(tokens.join('_'), metric.kind);
}
const JS_NAMES = new Set(CONTRACT_METRICS.flatMap(jsExporterNames));
const OTLP_NAMES = new Set(CONTRACT_METRICS.flatMap(otlpTranslatedNames));
const attributeLabel = (a: string) => a.replace(/[^a-zA-Z0-9_]/g, '_');

// ---------------------------------------------------------------------------------------------
// A small PromQL reader: the metric names, __name__ regexes and label names an expression uses.
interface PromqlRefs {
  names: string[];
  nameRegexes: string[];
  labels: string[];
}
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);
function promqlRefs(exprIn: string): PromqlRefs {
  const out: PromqlRefs = { names: [], nameRegexes: [], labels: [] };
  // Grafana variables become a number: they stand for durations, counts or label values.
  let expr = exprIn.replace(/\$\{[^}]*\}|\$[a-zA-Z_]\w*/g, '1');
  // Label matchers.
  expr = expr.replace(/\{([^}]*)\}/g, (_all, body: string) => {
    const matcher = /\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
    let consumed = 0;
    for (let mm = matcher.exec(body); mm; mm = matcher.exec(body)) {
      consumed = matcher.lastIndex;
      const [, label = '', op = '', value = ''] = mm;
      if (label === '__name__') {
        if (op === '=~') out.nameRegexes.push(value);
        else if (op === '=') out.names.push(value);
        else assert.fail(`negative __name__ matcher in ${exprIn}`);
      } else out.labels.push(label);
    }
    assert.equal(body.slice(consumed).trim(), '', `unparsed label matchers "${body}" in ${exprIn}`);
    return ' ';
  });
  // Range and subquery brackets, string literals.
  expr = expr.replace(/\[[^\]]*\]/g, ' ').replace(/"(?:[^"\\]|\\.)*"/g, ' ');
  // Grouping clauses.
  expr = expr.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_a, _k: string, list: string) => {
    for (const l of list.split(',').map((s) => s.trim()).filter((s) => s !== '')) out.labels.push(l);
    return ' ';
  });
  // (Not after a digit: the unit of a duration such as 5m.)
  for (const t of expr.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = t[0];
    const next = expr.slice((t.index ?? 0) + word.length).trimStart();
    if (next.startsWith('(') || PROMQL_KEYWORDS.has(word.toLowerCase())) continue; // functions, keywords
    out.names.push(word);
  }
  return out;
}

/**
 * Every string a regex of the simple form the dashboard uses can match: literals, groups with
 * alternatives, and `?` after a group or character. Anything else is refused, so the check
 * below stays exact.
 */
function expandRegex(re: string): string[] {
  let i = 0;
  function seq(): string[] {
    let acc = [''];
    while (i < re.length && re[i] !== ')' && re[i] !== '|') {
      let piece: string[];
      const c = re[i]!;
      if (c === '(') {
        i++;
        piece = alt();
        assert.equal(re[i], ')', `unbalanced group in /${re}/`);
        i++;
      } else if (/[a-zA-Z0-9_:]/.test(c)) {
        piece = [c];
        i++;
      } else {
        assert.fail(`regex /${re}/ uses "${c}", which this check does not expand; keep __name__ regexes to literals, (a|b) and ?`);
      }
      if (re[i] === '?') {
        piece = ['', ...piece];
        i++;
      }
      acc = acc.flatMap((a) => piece.map((p) => a + p));
    }
    return acc;
  }
  function alt(): string[] {
    const out = seq();
    while (re[i] === '|') {
      i++;
      out.push(...seq());
    }
    return out;
  }
  const all = alt();
  assert.equal(i, re.length, `unparsed regex /${re}/`);
  return all;
}

// ---------------------------------------------------------------------------------------------
describe('promql reader (self-test)', () => {
  it('finds names, regexes and labels', () => {
    const r = promqlRefs(
      'histogram_quantile(0.99, sum by (le, a_b) (rate({__name__=~"x(_seconds)?_bucket", host_name=~"$host"}[$__rate_interval]))) / on(c) foo_total{d="1"} offset 5m',
    );
    assert.deepEqual(r.names, ['foo_total']);
    assert.deepEqual(r.nameRegexes, ['x(_seconds)?_bucket']);
    assert.deepEqual(r.labels.sort(), ['a_b', 'c', 'd', 'host_name', 'le']);
  });
  it('expands simple regexes', () => {
    assert.deepEqual(expandRegex('a_(b|c)(_d)?').sort(), ['a_b', 'a_b_d', 'a_c', 'a_c_d']);
    assert.throws(() => expandRegex('a.*'), /does not expand/);
  });
  it('names metrics both ways', () => {
    const lru = m('memwatcher.system.memory.lru', 'gauge', 'By');
    assert.deepEqual(jsExporterNames(lru), ['memwatcher_system_memory_lru']);
    assert.deepEqual(otlpTranslatedNames(lru), ['memwatcher_system_memory_lru_bytes']);
    const leak = m('memwatcher.memleak.outstanding', 'updowncounter', 'By');
    assert.deepEqual(jsExporterNames(leak), ['memwatcher_memleak_outstanding']);
    assert.deepEqual(otlpTranslatedNames(leak), ['memwatcher_memleak_outstanding_bytes']);
    assert.deepEqual(otlpTranslatedNames(m('system.memory.utilization', 'gauge', '1')), ['system_memory_utilization_ratio']);
    const scanned = m('memwatcher.reclaim.scanned', 'counter', '{page}');
    assert.deepEqual(jsExporterNames(scanned), otlpTranslatedNames(scanned));
    assert.deepEqual(otlpTranslatedNames(m('memwatcher.reclaim.stall.duration', 'histogram', 's'))[0], 'memwatcher_reclaim_stall_duration_seconds_bucket');
  });
});

/** Contract metrics not emitted yet, and the issue that brings each. */
const CONTRACT_PENDING: Record<string, string> = {
};

describe('contract', () => {
  it('the metric list here uses the names and units of src/telemetry/semconv.ts', () => {
    const names = new Set<string>(Object.values(METRIC));
    const units = new Set<string>(Object.values(UNIT));
    for (const x of CONTRACT_METRICS) {
      assert.ok(names.has(x.name), `${x.name} is in METRIC`);
      assert.ok(units.has(x.unit), `${x.name}: unit ${x.unit} is in UNIT`);
    }
    const attrs = new Set<string>(Object.values(ATTR));
    for (const a of CONTRACT_ATTRIBUTES) assert.ok(attrs.has(a), `${a} is in ATTR`);
  });
  const contractPath = resolve(ROOT, '../shared/CONTRACT.md');
  it('the metric list here is the contract\'s', { skip: !existsSync(contractPath) && 'no ../shared/CONTRACT.md beside the repository' }, () => {
    const { metrics, attributes } = contractMetricNames(readFileSync(contractPath, 'utf8'));
    const emitted = CONTRACT_METRICS.map((x) => x.name);
    for (const name of emitted) assert.ok(metrics.includes(name), `${name} is emitted but not in the contract`);
    // Named by the contract before the code has them, each with the issue that brings it: an
    // entry still listed once it is emitted (or no longer in the contract) fails too.
    const notYet = [...new Set(metrics)].filter((n) => !emitted.includes(n)).sort();
    assert.deepEqual(notYet, Object.keys(CONTRACT_PENDING).sort(), 'the contract\'s metrics the code does not emit yet are the pending ones');
    for (const a of attributes) assert.ok(CONTRACT_ATTRIBUTES.includes(a), `contract attribute ${a} is known here`);
  });
});

// ---------------------------------------------------------------------------------------------
const COMPOSE_PATH = 'docker-compose.yml';

function composeBinary(): string[] | undefined {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  return undefined;
}

/** The value of a compose `environment:` entry, list or mapping form. */
function composeEnv(service: Obj): Record<string, string> {
  const env = service.environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => String(e).split(/=(.*)/s).slice(0, 2) as [string, string]));
  }
  return Object.fromEntries(Object.entries(obj(env, 'environment')).map(([k, v]) => [k, String(v)]));
}

const KNOWN_ENV = new Set(keyPaths().map(envName));
function checkMemwatcherEnv(env: Record<string, string>, where: string) {
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('MEMWATCHER_')) continue;
    assert.ok(KNOWN_ENV.has(k), `${where}: ${k} is no configuration key's variable`);
    if (k === 'MEMWATCHER_EXPORTERS') {
      for (const e of v.split(',')) assert.ok((EXPORTERS as readonly string[]).includes(e.trim()), `${where}: exporter ${e}`);
    }
  }
}

/** Pinned: a tag, not latest, and (for images pulled from a registry) a version number. */
function assertPinned(image: string, where: string, pulled: boolean) {
  const m = /^(?<repo>[^@]+?)(?::(?<tag>[^:/@]+))?(?:@sha256:[0-9a-f]{64})?$/.exec(image);
  assert.ok(m?.groups, `${where}: image "${image}"`);
  const tag = m.groups.tag;
  assert.ok(tag !== undefined, `${where}: image ${image} has no tag`);
  assert.notEqual(tag, 'latest', `${where}: image ${image} uses :latest`);
  if (pulled) assert.match(tag, /^v?\d+\.\d+(\.\d+)?/, `${where}: image ${image} is not pinned to a version`);
}

function dockerfileStages(): string[] {
  return [...read('Dockerfile').matchAll(/^FROM\s+\S+(?:\s+AS\s+(\S+))?/gim)].map((x) => x[1] ?? '');
}

describe('docker-compose.yml', () => {
  const compose = obj(parseYaml(COMPOSE_PATH), COMPOSE_PATH);
  const services = obj(compose.services, 'services');
  const svc = (name: string) => obj(services[name], `service ${name}`);

  it('is valid for docker-compose (config -q)', () => {
    const bin = composeBinary();
    assert.ok(bin, 'docker-compose is not installed: apt-get install docker-compose (Debian package; validates compose files without a Docker engine)');
    const [cmd, ...pre] = bin;
    const r = spawnSync(cmd!, [...pre, '-f', COMPOSE_PATH, 'config', '-q'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `${bin.join(' ')} config -q failed:\n${r.stderr}${r.stdout}`);
  });

  it('has the demo services', () => {
    for (const s of ['mem-watcher', 'leaky', 'otel-collector', 'jaeger', 'prometheus', 'grafana']) assert.ok(s in services, `service ${s}`);
  });

  it('pins every image and builds from real Dockerfile targets', () => {
    const stages = dockerfileStages();
    for (const [name, raw] of Object.entries(services)) {
      const s = obj(raw, name);
      if (s.image !== undefined) assertPinned(str(s.image, `${name}.image`), name, s.build === undefined);
      if (s.build !== undefined) {
        const b = obj(s.build, `${name}.build`);
        if (b.target !== undefined) assert.ok(stages.includes(str(b.target, 'target')), `${name}: Dockerfile has no stage ${String(b.target)}`);
      }
    }
  });

  it('gives mem-watcher the host PID namespace, capabilities and kernel mounts, not privileged', () => {
    const mw = svc('mem-watcher');
    assert.equal(mw.pid, 'host');
    assert.notEqual(mw.privileged, true, 'capabilities, not privileged');
    const caps = arr(mw.cap_add, 'cap_add').map(String);
    for (const c of ['BPF', 'PERFMON', 'SYS_RESOURCE', 'SYS_PTRACE']) assert.ok(caps.includes(c), `cap_add ${c}`);
    // The demo traces the leaky program with -l: memleak's uprobes take CAP_SYS_ADMIN on Linux 6.16+.
    assert.ok(caps.includes('SYS_ADMIN'), 'cap_add SYS_ADMIN for the demo\'s memleak');
    const mounts = arr(mw.volumes, 'volumes').map(String);
    for (const p of ['/sys/kernel/btf', '/sys/kernel/tracing', '/sys/kernel/debug', '/sys/fs/cgroup']) {
      assert.ok(mounts.includes(`${p}:${p}:ro`), `read-only mount of ${p}`);
    }
  });

  it('wires mem-watcher to the collector with known settings', () => {
    const env = composeEnv(svc('mem-watcher'));
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector:4318');
    assert.ok((env.MEMWATCHER_EXPORTERS ?? '').split(',').includes('otlp'), 'otlp exporter on');
    for (const [name, raw] of Object.entries(services)) checkMemwatcherEnv(composeEnv(obj(raw, name)), `compose ${name}`);
  });

  it('mounts only files that exist in the repository', () => {
    for (const [name, raw] of Object.entries(services)) {
      for (const v of (obj(raw, name).volumes as unknown[] | undefined) ?? []) {
        const src = String(v).split(':')[0] ?? '';
        if (src.startsWith('./')) assert.ok(existsSync(join(ROOT, src)), `${name}: ${src} exists`);
      }
    }
  });

  it('is consistent with the collector and Prometheus configs', () => {
    const collector = obj(parseYaml('config/otel-collector.yaml'), 'collector');
    const exporters = obj(collector.exporters, 'exporters');
    const endpoints = Object.values(exporters).filter(isObj).flatMap((e) => (typeof e.endpoint === 'string' ? [e.endpoint] : []));
    // Every host the collector exports to is a service here.
    for (const ep of endpoints) {
      const host = /^(?:https?:\/\/)?([^:/]+)/.exec(ep)?.[1] ?? '';
      assert.ok(host in services, `collector exports to ${ep}, which is no compose service`);
    }
    const prom = svc('prometheus');
    const cmd = arr(prom.command, 'prometheus.command').map(String);
    if (endpoints.some((e) => e.includes('/api/v1/otlp'))) assert.ok(cmd.includes('--web.enable-otlp-receiver'), 'Prometheus OTLP receiver on');
    const collectorSvc = svc('otel-collector');
    assert.ok(arr(collectorSvc.volumes, 'volumes').map(String).some((v) => v.startsWith('./config/otel-collector.yaml:')), 'collector mounts config/otel-collector.yaml');
  });
});

// ---------------------------------------------------------------------------------------------
// Components of the OpenTelemetry Collector contrib distribution that a pipeline for
// mem-watcher may use (a typo or a component from another distribution fails here).
const CONTRIB_COMPONENTS: Record<string, Set<string>> = {
  receivers: new Set(['otlp', 'prometheus', 'hostmetrics', 'filelog', 'kubeletstats', 'k8s_cluster', 'jaeger', 'zipkin']),
  processors: new Set([
    'batch', 'memory_limiter', 'resource', 'resourcedetection', 'attributes', 'filter', 'transform',
    'k8sattributes', 'cumulativetodelta', 'deltatocumulative', 'metricstransform', 'probabilistic_sampler', 'tail_sampling',
  ]),
  exporters: new Set([
    'otlp', 'otlp_grpc', 'otlphttp', 'otlp_http', 'debug', 'prometheus', 'prometheusremotewrite',
    'prometheus_remote_write', 'file', 'nop', 'loadbalancing',
  ]),
  extensions: new Set(['health_check', 'pprof', 'zpages', 'basicauth', 'bearertokenauth', 'headers_setter', 'file_storage']),
};
const componentType = (id: string) => id.split('/')[0] ?? '';

describe('config/otel-collector.yaml', () => {
  const text = read('config/otel-collector.yaml');
  const cfg = obj(parseYaml('config/otel-collector.yaml'), 'collector config');

  it('uses only contrib components, each used by a pipeline, each pipeline defined', () => {
    const service = obj(cfg.service, 'service');
    const pipelines = obj(service.pipelines, 'service.pipelines');
    const used: Record<string, Set<string>> = { receivers: new Set(), processors: new Set(), exporters: new Set() };
    for (const [pname, raw] of Object.entries(pipelines)) {
      assert.match(pname, /^(traces|metrics|logs)(\/.+)?$/, `pipeline ${pname}`);
      const p = obj(raw, pname);
      for (const kind of ['receivers', 'processors', 'exporters']) {
        const defined = isObj(cfg[kind]) ? (cfg[kind] as Obj) : {};
        for (const id of arr(p[kind] ?? [], `${pname}.${kind}`).map(String)) {
          assert.ok(id in defined, `${pname} uses ${kind} ${id}, which is not defined`);
          used[kind]!.add(id);
        }
      }
      assert.ok(arr(p.receivers, `${pname}.receivers`).length > 0 && arr(p.exporters, `${pname}.exporters`).length > 0, `${pname} has receivers and exporters`);
    }
    for (const kind of ['receivers', 'processors', 'exporters', 'extensions']) {
      if (cfg[kind] === undefined) continue;
      for (const id of Object.keys(obj(cfg[kind], kind))) {
        assert.ok(CONTRIB_COMPONENTS[kind]!.has(componentType(id)), `${kind} ${id}: ${componentType(id)} is not a contrib component`);
        if (kind !== 'extensions') assert.ok(used[kind]!.has(id), `${kind} ${id} is defined but in no pipeline`);
      }
    }
    for (const id of arr(service.extensions ?? [], 'service.extensions').map(String)) {
      assert.ok(isObj(cfg.extensions) && id in cfg.extensions, `extension ${id} is defined`);
    }
  });

  it('receives OTLP on 4317 and 4318 on all interfaces', () => {
    const otlp = obj(obj(cfg.receivers, 'receivers').otlp, 'otlp receiver');
    const protocols = obj(otlp.protocols, 'protocols');
    assert.equal(obj(protocols.grpc, 'grpc').endpoint, '0.0.0.0:4317');
    assert.equal(obj(protocols.http, 'http').endpoint, '0.0.0.0:4318');
  });

  it('runs metrics and traces through memory_limiter first, then batch, to a backend and debug', () => {
    const pipelines = obj(obj(cfg.service, 'service').pipelines, 'pipelines');
    for (const name of ['metrics', 'traces']) {
      const p = obj(pipelines[name], name);
      const procs = arr(p.processors, `${name}.processors`).map(String);
      assert.equal(procs[0], 'memory_limiter', `${name}: memory_limiter first`);
      assert.ok(procs.includes('batch'), `${name}: batch`);
      const ex = arr(p.exporters, `${name}.exporters`).map(String);
      assert.ok(ex.includes('debug'), `${name}: debug exporter`);
      assert.ok(ex.some((e) => e !== 'debug'), `${name}: a backend`);
    }
    const traceEx = arr(obj(pipelines.traces, 'traces').exporters, 'x').map(String);
    assert.ok(traceEx.some((e) => /jaeger/.test(e)), 'traces go to Jaeger');
    const metricEx = arr(obj(pipelines.metrics, 'metrics').exporters, 'x').map(String);
    assert.ok(metricEx.some((e) => /prometheus/.test(e)), 'metrics go to Prometheus');
  });

  it('carries a commented Honeycomb exporter that is valid once uncommented', () => {
    const lines = text.split('\n');
    const startIdx = lines.findIndex((l) => /^\s*#\s*otlp_?http\/honeycomb:/.test(l));
    assert.ok(startIdx >= 0, 'a commented otlp_http/honeycomb exporter');
    const block: string[] = [];
    for (const l of lines.slice(startIdx)) {
      if (!/^\s*#/.test(l)) break;
      block.push(l.replace(/^(\s*)# ?/, '$1'));
    }
    assert.match(block.join('\n'), /x-honeycomb-team: \$\{env:HONEYCOMB_API_KEY\}/);
    const parsed = obj(YAML.parse(block.join('\n')), 'honeycomb block');
    const [id] = Object.keys(parsed);
    assert.ok(id !== undefined && CONTRIB_COMPONENTS.exporters!.has(componentType(id)), `honeycomb exporter type ${id}`);
    assert.match(String(obj(parsed[id], id).endpoint), /^https:\/\/api\.honeycomb\.io/);
  });
});

// ---------------------------------------------------------------------------------------------
const DASHBOARD_PATH = 'deploy/grafana/dashboards/mem-watcher.json';
const GRAFANA_BUILTINS = new Set(['__rate_interval', '__range', '__interval', '__interval_ms', '__range_s', '__field', '__series', '__value', '__data', '__all', '__from', '__to', '__dashboard']);

interface Panel {
  id?: number;
  type?: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Array<Record<string, unknown>>;
  panels?: Panel[];
}

describe('Grafana dashboard', () => {
  const text = read(DASHBOARD_PATH);
  const dash = JSON.parse(text) as Obj;
  const panels = (dash.panels as Panel[]).flatMap((p) => [p, ...(p.panels ?? [])]);
  const prometheusCfg = obj(parseYaml('deploy/prometheus/prometheus.yml'), 'prometheus.yml');
  const promoted = arr(obj(prometheusCfg.otlp, 'otlp').promote_resource_attributes, 'promote_resource_attributes').map(String);
  const allowedLabels = new Set([
    ...CONTRACT_ATTRIBUTES.map(attributeLabel),
    ...promoted.map(attributeLabel),
    'le', '__name__', 'job', 'instance',
  ]);
  const exprs: Array<[string, string]> = [];
  for (const p of panels) {
    for (const t of p.targets ?? []) if (typeof t.expr === 'string') exprs.push([p.title ?? String(p.id), t.expr]);
  }
  const templating = obj(dash.templating, 'templating');
  const variables = arr(templating.list, 'templating.list').map((v) => obj(v, 'variable'));
  for (const v of variables) {
    if (v.type === 'query') {
      const q = isObj(v.query) ? String(v.query.query) : String(v.query);
      // label_values(selector, label) reads like a selector and a label.
      const lv = /^label_values\((.*),\s*(\w+)\)$/.exec(q);
      exprs.push([`variable ${String(v.name)}`, lv ? `count by (${lv[2]}) (${lv[1]})` : q]);
    }
  }

  it('has unique panel ids, a uid and panels that fit the grid without overlapping', () => {
    assert.equal(typeof dash.uid, 'string');
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
    const boxes = panels.filter((p) => p.gridPos).map((p) => ({ t: p.title, ...p.gridPos! }));
    for (const b of boxes) assert.ok(b.x >= 0 && b.w > 0 && b.x + b.w <= 24 && b.h > 0, `${b.t} fits the 24-column grid`);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `panels "${a.t}" and "${b.t}" overlap`);
      }
    }
  });

  it('shows the panels the demo promises', () => {
    const all = exprs.map(([, e]) => e).join('\n');
    for (const needle of ['memwatcher_system_memory_lru', 'topk(', 'process_memory_usage', 'memwatcher_reclaim_scanned_total', 'memwatcher_reclaim_reclaimed_total', 'memwatcher_reclaim_stall_duration', 'memwatcher_page_alloc_failures_total', 'memwatcher_memleak_outstanding', 'memwatcher_memleak_outstanding_count']) {
      assert.ok(all.includes(needle), `a query uses ${needle}`);
    }
    assert.ok(panels.some((p) => p.type === 'heatmap'), 'a stall-duration heatmap');
    const leak = panels.find((p) => (p.targets ?? []).some((t) => String(t.expr ?? '').includes('memwatcher_memleak_outstanding(_bytes)?')));
    const links = ((leak as Obj | undefined)?.fieldConfig as { defaults?: { links?: Array<{ url: string }> } } | undefined)?.defaults?.links ?? [];
    assert.ok(links.some((l) => l.url.includes('${__field.labels.process_pid}') && l.url.includes('memleak.report')), 'memleak panel links to the pid\'s traces in Jaeger');
  });

  it('queries only metric names mem-watcher exports, under both Prometheus naming schemes', () => {
    assert.ok(exprs.length > 10, 'queries found');
    for (const [title, expr] of exprs) {
      const refs = promqlRefs(expr);
      assert.ok(refs.names.length + refs.nameRegexes.length > 0, `${title}: no metric in ${expr}`);
      for (const n of refs.names) {
        assert.ok(JS_NAMES.has(n), `${title}: ${n} is not a name mem-watcher's /metrics has (${expr})`);
        assert.ok(OTLP_NAMES.has(n), `${title}: ${n} is not a name the Collector/Prometheus OTLP path produces; match both with {__name__=~"base(_bytes)?"} (${expr})`);
      }
      for (const re of refs.nameRegexes) {
        const matches = expandRegex(re);
        for (const n of matches) assert.ok(JS_NAMES.has(n) || OTLP_NAMES.has(n), `${title}: /${re}/ matches ${n}, which no exporter writes`);
        assert.ok(matches.some((n) => JS_NAMES.has(n)), `${title}: /${re}/ matches nothing on mem-watcher's /metrics`);
        assert.ok(matches.some((n) => OTLP_NAMES.has(n)), `${title}: /${re}/ matches nothing on the OTLP path`);
      }
    }
  });

  it('uses only labels that come from contract attributes or promoted resource attributes', () => {
    const legendLabels = [...text.matchAll(/\{\{\s*([a-zA-Z_]\w*)\s*\}\}/g)].map((x) => x[1]!);
    const linkLabels = [...text.matchAll(/__field\.labels\.([a-zA-Z_]\w*)/g)].map((x) => x[1]!);
    const queryLabels = exprs.flatMap(([, e]) => promqlRefs(e).labels);
    for (const l of [...legendLabels, ...linkLabels, ...queryLabels]) assert.ok(allowedLabels.has(l), `label ${l}`);
    assert.ok(queryLabels.includes('host_name') && promoted.includes('host.name'), 'host_name is promoted by prometheus.yml');
  });

  it('defines every variable it uses, and the data sources are the provisioned ones', () => {
    const names = new Set(variables.map((v) => String(v.name)));
    for (const x of text.matchAll(/\$\{([a-zA-Z_]\w*)(?:[:.][^}]*)?\}|\$([a-zA-Z_]\w*)/g)) {
      const name = x[1] ?? x[2] ?? '';
      if (GRAFANA_BUILTINS.has(name)) continue;
      assert.ok(names.has(name), `variable $${name} is defined`);
    }
    const provisioned = obj(parseYaml('deploy/grafana/provisioning/datasources/datasources.yaml'), 'datasources');
    const byType = new Map(arr(provisioned.datasources, 'datasources').map((d) => [String(obj(d, 'ds').type), String(obj(d, 'ds').uid)]));
    for (const v of variables.filter((x) => x.type === 'datasource')) {
      const current = obj(v.current, 'current');
      assert.equal(current.value, byType.get(String(v.query)), `variable ${String(v.name)} defaults to the provisioned ${String(v.query)}`);
    }
    for (const p of panels) {
      if (p.type === 'row' || !p.datasource) continue;
      assert.match(String(p.datasource.uid), /^\$\{(datasource|jaeger)\}$/, `${p.title}: data source through a variable`);
    }
    const providers = obj(parseYaml('deploy/grafana/provisioning/dashboards/dashboards.yaml'), 'dashboards provider');
    const path = String(obj(obj(arr(providers.providers, 'providers')[0], 'provider').options, 'options').path);
    const compose = obj(parseYaml(COMPOSE_PATH), 'compose');
    const grafanaMounts = arr(obj(obj(compose.services, 's').grafana, 'grafana').volumes, 'volumes').map(String);
    assert.ok(grafanaMounts.some((v) => v.startsWith('./deploy/grafana/dashboards:' + path)), 'the provider reads the mounted dashboards');
  });
});

// ---------------------------------------------------------------------------------------------
describe('deploy/kubernetes/daemonset.yaml', () => {
  const docs = YAML.parseAllDocuments(read('deploy/kubernetes/daemonset.yaml'));
  for (const d of docs) assert.deepEqual(d.errors.map((e) => e.message), [], 'valid YAML');
  const objects = docs.map((d) => obj(d.toJS(), 'document'));
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const ds = obj(byKind('DaemonSet')[0], 'DaemonSet');
  const pod = obj(obj(obj(ds.spec, 'spec').template, 'template').spec, 'pod spec');
  const containers = arr(pod.containers, 'containers').map((c) => obj(c, 'container'));
  const c = containers[0]!;

  it('holds a Namespace, a ServiceAccount and the DaemonSet, all in one namespace', () => {
    assert.equal(byKind('Namespace').length, 1);
    assert.equal(byKind('ServiceAccount').length, 1);
    assert.equal(byKind('DaemonSet').length, 1);
    const ns = String(obj(byKind('Namespace')[0]!.metadata, 'metadata').name);
    for (const o of objects) if (o.kind !== 'Namespace') assert.equal(obj(o.metadata, 'metadata').namespace, ns);
    assert.equal(pod.serviceAccountName, obj(byKind('ServiceAccount')[0]!.metadata, 'metadata').name);
    const sel = obj(obj(obj(ds.spec, 'spec').selector, 'selector').matchLabels, 'matchLabels');
    const labels = obj(obj(obj(obj(ds.spec, 'spec').template, 't').metadata, 'm').labels, 'labels');
    for (const [k, v] of Object.entries(sel)) assert.equal(labels[k], v, `pod template carries selector label ${k}`);
  });

  it('runs in the host PID namespace on every node', () => {
    assert.equal(pod.hostPID, true);
    const tol = arr(pod.tolerations, 'tolerations').map((t) => obj(t, 'toleration'));
    assert.ok(tol.some((t) => t.operator === 'Exists' && t.key === undefined && t.effect === undefined), 'tolerates every taint');
  });

  it('mounts the kernel interfaces read-only from the host', () => {
    const volumes = new Map(arr(pod.volumes, 'volumes').map((v) => [String(obj(v, 'v').name), obj(v, 'v')]));
    const mounts = arr(c.volumeMounts, 'volumeMounts').map((v) => obj(v, 'mount'));
    for (const p of ['/sys/kernel/btf', '/sys/kernel/tracing', '/sys/fs/cgroup']) {
      const mnt = mounts.find((x) => x.mountPath === p);
      assert.ok(mnt, `mount at ${p}`);
      assert.equal(mnt.readOnly, true, `${p} read-only`);
      const vol = volumes.get(String(mnt.name));
      assert.equal(obj(vol?.hostPath, `${p} hostPath`).path, p, `${p} comes from the host's ${p}`);
    }
  });

  it('adds the capabilities, not privileged, not SYS_ADMIN', () => {
    const sc = obj(c.securityContext, 'securityContext');
    assert.notEqual(sc.privileged, true);
    const add = arr(obj(sc.capabilities, 'capabilities').add, 'add').map(String);
    for (const cap of ['BPF', 'PERFMON', 'SYS_RESOURCE', 'SYS_PTRACE']) assert.ok(add.includes(cap), `adds ${cap}`);
    assert.ok(!add.includes('SYS_ADMIN'));
  });

  it('sets requests and limits', () => {
    const res = obj(c.resources, 'resources');
    for (const k of ['requests', 'limits']) {
      const r = obj(res[k], k);
      assert.ok(r.cpu !== undefined && r.memory !== undefined, `${k} cpu and memory`);
    }
  });

  it('names the node in the resource and sends OTLP/HTTP to a collector', () => {
    const env = arr(c.env, 'env').map((e) => obj(e, 'env var'));
    const idx = (n: string) => env.findIndex((e) => e.name === n);
    const node = env[idx('K8S_NODE_NAME')];
    assert.ok(node, 'K8S_NODE_NAME');
    assert.equal(obj(obj(node.valueFrom, 'valueFrom').fieldRef, 'fieldRef').fieldPath, 'spec.nodeName');
    const attrs = String(env[idx('OTEL_RESOURCE_ATTRIBUTES')]?.value ?? '');
    assert.match(attrs, /(^|,)k8s\.node\.name=\$\(K8S_NODE_NAME\)(,|$)/);
    assert.match(attrs, /(^|,)host\.name=\$\(K8S_NODE_NAME\)(,|$)/);
    // $(VAR) only expands for variables defined earlier in the list.
    assert.ok(idx('K8S_NODE_NAME') < idx('OTEL_RESOURCE_ATTRIBUTES'), 'K8S_NODE_NAME is defined before it is used');
    assert.match(String(env[idx('OTEL_EXPORTER_OTLP_ENDPOINT')]?.value ?? ''), /^http:\/\/[^/]+:4318$/);
    checkMemwatcherEnv(Object.fromEntries(env.filter((e) => typeof e.value === 'string').map((e) => [String(e.name), String(e.value)])), 'daemonset');
  });

  it('uses a pinned image', () => {
    assertPinned(str(c.image, 'image'), 'daemonset', false);
  });

  it('probes liveness on /healthz and readiness on /readyz, on the port health.port serves', () => {
    const env = Object.fromEntries(arr(c.env, 'env').map((e) => obj(e, 'env var')).map((e) => [String(e.name), e.value]));
    const port = Number(env.MEMWATCHER_HEALTH_PORT);
    assert.ok(loadConfig({ env: { MEMWATCHER_HEALTH_PORT: String(env.MEMWATCHER_HEALTH_PORT) } }).config.health.port === port && port > 0, 'MEMWATCHER_HEALTH_PORT is a valid port');
    const named = new Map(arr(c.ports, 'ports').map((p) => obj(p, 'port')).map((p) => [String(p.name), Number(p.containerPort)]));
    for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
      const get = obj(obj(c[probe], probe).httpGet, `${probe}.httpGet`);
      assert.equal(get.path, path);
      assert.equal(typeof get.port === 'string' ? named.get(get.port) : Number(get.port), port, `${probe} asks the health port`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('Dockerfile', () => {
  const text = read('Dockerfile');

  it('builds BPF objects with a BTF argument and runs mem-watcher on a slim Node 24 image', () => {
    const stages = dockerfileStages();
    for (const s of ['bpf', 'deps', 'runtime', 'leaky']) assert.ok(stages.includes(s), `stage ${s}`);
    assert.equal(stages.at(-1), '', 'the last (default) stage is unnamed: the agent');
    assert.match(text, /^ARG BTF=\/sys\/kernel\/btf\/vmlinux$/m);
    assert.match(text, /make -C bpf [^\n]*BTF="\$btf"/);
    assert.match(text, /scripts\/build-bpf\.sh/);
    assert.match(text, /^FROM node:\$\{NODE_VERSION\}-bookworm-slim AS runtime$/m);
    assert.match(text, /^ARG NODE_VERSION=24(\.\d+)*$/m);
    assert.match(text, /COPY --from=bpf \/src\/build\/bpf\/ build\/bpf\//);
    assert.match(text, /^ENTRYPOINT \["node", "--disable-sigusr1", "\/app\/src\/cli\/main\.ts"\]$/m);
    assert.match(text, /libbpf1/);
  });

  it('has a HEALTHCHECK on /healthz at the port the image sets health.port to', () => {
    const port = /^ENV MEMWATCHER_HEALTH_PORT=(\d+)$/m.exec(text)?.[1];
    assert.ok(port, 'ENV MEMWATCHER_HEALTH_PORT');
    assert.match(text, new RegExp(`^EXPOSE ${port}$`, 'm'));
    const check = /^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$/m.exec(text);
    assert.ok(check, 'HEALTHCHECK ... CMD [exec form]');
    const argv = JSON.parse(check[1]!) as string[];
    assert.equal(argv[0], 'node');
    assert.match(argv.at(-1)!, /process\.env\.MEMWATCHER_HEALTH_PORT \+ '\/healthz'/);
  });

  it('keeps host build products out of the build context', () => {
    const ignore = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'build', '.git']) assert.ok(ignore.includes(p), `.dockerignore has ${p}`);
    for (const p of ['bpf', 'bin', 'src', 'config', 'scripts', 'deploy/demo', 'package.json', 'package-lock.json']) {
      assert.ok(!ignore.includes(p), `.dockerignore keeps ${p}`);
    }
  });
});
