// Bad input from a user: every case exits 2 with one line on stderr that names what to fix,
// and no stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, runCli } from '../helpers/cli.ts';
import { runWithCaps } from '../helpers/privileges.ts';

const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'));

function assertUsageError(r: { code: number | null; stderr: string; stdout: string }, mentions: RegExp) {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, mentions);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

test('unknown flag', async () => {
  assertUsageError(await runCli(['--bogus']), /--bogus.*--help/);
});

test('bad flag value names the flag and the allowed range', async () => {
  assertUsageError(await runCli(['-s', '--interval', 'soon']), /interval \(from --interval\) must be a number/);
  assertUsageError(await runCli(['-r', '--top', '0']), /probes\.procstat\.top \(from --top\)/);
  assertUsageError(await runCli(['-l', 'abc']), /probes\.memleak\.pids.*"abc" is not a pid/);
  assertUsageError(await runCli(['--exporter', 'kafka']), /"kafka" is not an exporter/);
});

test('bad environment values name the variable', async () => {
  assertUsageError(await runCli(['-s'], { MEMWATCHER_PROBES_PROCSTAT_TOP: 'many' }), /MEMWATCHER_PROBES_PROCSTAT_TOP/);
  assertUsageError(await runCli(['-s'], { MEMWATCHER_INTERVAL: '' }), /MEMWATCHER_INTERVAL/);
  assertUsageError(await runCli(['-s'], { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc+ws' }), /otlp\.protocol \(from OTEL_EXPORTER_OTLP_PROTOCOL\)/);
  assertUsageError(await runCli(['-s'], { MEMWATCHER_PROBE_SYSSTAT_ENABLED: 'true' }), /unknown environment variable MEMWATCHER_PROBE_SYSSTAT_ENABLED/);
});

test('config file problems: missing, directory, not JSON, unknown key, bad value', async () => {
  assertUsageError(await runCli(['-c', join(dir, 'nope.json')]), /does not exist/);
  assertUsageError(await runCli(['-c', dir]), /is a directory/);
  writeFileSync(join(dir, 'bad.json'), '{ interval: 1 ');
  assertUsageError(await runCli(['-c', join(dir, 'bad.json')]), /not valid JSON/);
  writeFileSync(join(dir, 'unknown.json'), JSON.stringify({ probes: { sysstat: { enable: true } } }));
  assertUsageError(await runCli(['-c', join(dir, 'unknown.json')]), /unknown config key probes\.sysstat\.enable/);
  writeFileSync(join(dir, 'value.json'), JSON.stringify({ prometheus: { port: 99999 } }));
  assertUsageError(await runCli(['-c', join(dir, 'value.json')]), /prometheus\.port \(from .*value\.json\)/);
  writeFileSync(join(dir, 'array.json'), '[1,2]');
  assertUsageError(await runCli(['-c', join(dir, 'array.json')]), /JSON object/);
});

test('config files that are not one: a FIFO, a device, a huge file, a deep nesting: one line each, never a hang or the OOM killer', async () => {
  const fifo = join(dir, 'fifo.json');
  execFileSync('mkfifo', [fifo]); // nobody writes: reading it would wait for ever
  assertUsageError(await runCli(['-c', fifo, '--print-config'], {}, 15_000), /config file .*fifo\.json is not a regular file .*: pass a JSON file/);
  assertUsageError(await runCli(['-c', '/dev/zero', '--print-config'], {}, 15_000), /config file \/dev\/zero is not a regular file/);
  const huge = join(dir, 'huge.json');
  writeFileSync(huge, `{${' '.repeat(2 * 1024 * 1024)}}`);
  assertUsageError(await runCli(['-c', huge, '--print-config']), /huge\.json is larger than 1 MiB/);
  const deep = join(dir, 'deep.json');
  writeFileSync(deep, '{"a":'.repeat(5000) + '1' + '}'.repeat(5000));
  assertUsageError(await runCli(['-c', deep, '--print-config']), /deep\.json nests deeper than 32 levels/);
  const brackets = join(dir, 'brackets.json');
  writeFileSync(brackets, JSON.stringify({ probes: { procstat: { comms: ['[[[[{{{{'.repeat(10) + '\\"'] } } }));
  assert.equal((await runCli(['-c', brackets, '--print-config'])).code, 0, 'brackets inside strings are not nesting');
});

/** The CLI run on this machine as it would be without libbpf: in a private mount namespace
 * where the library the dynamic linker finds for libbpf.so.1 is an empty file. */
function withoutLibbpf(args: string[]) {
  const lib = realpathSync(execFileSync('sh', ['-c', 'ldconfig -p | sed -n "s/.*libbpf\\.so\\.1 (.*x86-64.*) => //p" | head -1'], { encoding: 'utf8' }).trim());
  return spawnSync('unshare', ['-m', 'sh', '-c', 'mount --bind /dev/null "$0" && exec "$@"', lib, BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
}

test('without libbpf: --help, --version and --print-config work; running the probes is one line naming the package', () => {
  for (const flag of ['--help', '--version', '--print-config']) {
    const r = withoutLibbpf([flag]);
    assert.equal(r.status, 0, `${flag}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /libbpf|\n\s+at /, flag);
  }
  const run = withoutLibbpf(['-s', '--duration', '1']);
  assertUsageError({ code: run.status, stdout: run.stdout, stderr: run.stderr },
    /cannot load libbpf\.so\.1 \(.*file too short\): install Debian's libbpf1 \(apt-get install libbpf1\)/);
});

test('an unreadable config file is reported as such', async () => {
  const f = join(dir, 'secret.json');
  writeFileSync(f, '{}');
  chmodSync(f, 0o000);
  assertUsageError(await runWithCaps(['-c', f]), /config file .*secret\.json is not readable: fix its permissions/);
});

test('without root or CAP_BPF+CAP_PERFMON: one line naming what is missing', async () => {
  assertUsageError(await runWithCaps(['-s', '--duration', '1']), /root or the capabilities CAP_BPF and CAP_PERFMON/);
});

test('--help and --version exit 0', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /-l, --memleak PID/);
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^mem-watcher \d+\.\d+\.\d+/);
});

test('--print-config shows the effective config, with secrets masked, and lists every variable', async () => {
  const r = await runCli(['--print-config', '--top', '7'], {
    OTEL_EXPORTER_OTLP_HEADERS: 'x-honeycomb-team=supersecret',
    MEMWATCHER_PROBES_MEMLEAK_PIDS: '1',
    OTEL_SERVICE_NAME: 'svc-from-otel',
  });
  assert.equal(r.code, 0, r.stderr);
  const cfg = JSON.parse(r.stdout);
  assert.equal(cfg.probes.procstat.top, 7);
  assert.deepEqual(cfg.probes.memleak.pids, [1]);
  assert.equal(cfg.service.name, 'svc-from-otel');
  assert.doesNotMatch(r.stdout + r.stderr, /supersecret/);
  assert.match(r.stderr, /MEMWATCHER_PROBES_MEMLEAK_PIDS\s+probes\.memleak\.pids \(MEMWATCHER_PROBES_MEMLEAK_PIDS\)/);
  assert.match(r.stderr, /MEMWATCHER_OTLP_HEADERS\s+otlp\.headers \(OTEL_EXPORTER_OTLP_HEADERS\)/);
});

test('--print-config lists the compression and TLS file variables the OTLP exporters read, with their source', async () => {
  const r = await runCli(['--print-config'], { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: '/etc/ssl/ca.pem' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /OTEL_EXPORTER_OTLP_COMPRESSION\s+"gzip" \(environment, read by the OTLP exporter\)/);
  assert.match(r.stderr, /OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE\s+"\/etc\/ssl\/ca.pem"/);
  assert.doesNotMatch(r.stderr, /OTEL_EXPORTER_OTLP_CLIENT_KEY/, 'unset ones are not listed');
});

test('precedence: defaults < config file < environment < flags', async () => {
  const f = join(dir, 'prec.json');
  writeFileSync(f, JSON.stringify({ interval: 2, duration: 3, probes: { procstat: { top: 4 } } }));
  const r = await runCli(['-c', f, '--print-config', '--duration', '9'], { MEMWATCHER_DURATION: '8', MEMWATCHER_PROBES_PROCSTAT_TOP: '5' });
  assert.equal(r.code, 0, r.stderr);
  const cfg = JSON.parse(r.stdout);
  assert.equal(cfg.interval, 2); // file over default
  assert.equal(cfg.probes.procstat.top, 5); // env over file
  assert.equal(cfg.duration, 9); // flag over env
});

test('least privilege: CAP_BPF and CAP_PERFMON alone are enough for the kernel probes', async () => {
  const r = await runWithCaps(['-s', '--duration', '2', '--interval', '0.5'], ['bpf', 'perfmon']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ACTIVE\s+INACTVE[^\n]*\n\s+\d+/);
});

test('a pid named twice is one target: -l P -l P, MEMWATCHER_PROBES_MEMLEAK_PIDS=P,P', async () => {
  const pid = String(process.pid);
  for (const [args, env] of [[['-l', pid, '-l', pid, '-l', pid], {}], [[], { MEMWATCHER_PROBES_MEMLEAK_PIDS: `${pid},${pid}` }]] as const) {
    const r = await runCli(['--print-config', ...args], { ...env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { probes: { memleak: { pids: number[] } } }).probes.memleak.pids, [process.pid]);
  }
});
