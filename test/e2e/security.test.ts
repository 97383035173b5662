// Security properties a root agent must keep: secrets stay secret (logs with -v, --print-config,
// error messages), the Prometheus endpoint binds only where told, no shell is ever built from
// user input, and paths under /proc/PID/root (the target's mount namespace, which a container
// controls) are read only where they are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runCli, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/prometheus.ts';
import { parseKeyValueList } from '../../src/telemetry/resource.ts';

const SRC = join(import.meta.dirname, '../../src');
const SECRETS = {
  OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20SECRET-ONE',
  OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-metrics-key=SECRET-TWO',
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-traces-key=SECRET-THREE',
};
const MW_SECRETS = {
  MEMWATCHER_OTLP_HEADERS: 'authorization=SECRET-FOUR',
  MEMWATCHER_OTLP_METRICS_HEADERS: 'x-metrics-key=SECRET-FIVE',
  MEMWATCHER_OTLP_TRACES_HEADERS: 'x-traces-key=SECRET-SIX',
};
const SECRET_RE = /SECRET-(ONE|TWO|THREE|FOUR|FIVE|SIX)/;

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Source without comments, so a comment explaining a rule does not trip the rule. */
function code(file: string): string {
  return readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

test('secret headers are used, but never logged (-v), even when the backend rejects them', async () => {
  const seen: string[] = [];
  // A backend that rejects every export: failures are logged, with -v, at length.
  const server = http.createServer((req, res) => {
    seen.push(JSON.stringify(req.headers));
    req.resume();
    req.on('end', () => res.writeHead(401, { 'content-type': 'text/plain' }).end('bad credentials'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    // OTEL_* and MEMWATCHER_* variables mixed in one run (a MEMWATCHER_ one wins for its key).
    const env = { ...SECRETS, MEMWATCHER_OTLP_METRICS_HEADERS: MW_SECRETS.MEMWATCHER_OTLP_METRICS_HEADERS };
    // The run ends with the command, after its final report (a span), however slowly memleak attaches.
    const r = await runCli(['-v', '-s', '--memleak-command', 'sleep 2', '--exporter', 'otlp', '--interval', '0.5'], { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_METRIC_EXPORT_INTERVAL: '500' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /otel: .*(401|Unauthorized|bad credentials)/i, 'the rejection is logged');
    assert.doesNotMatch(r.stdout + r.stderr, SECRET_RE);
    assert.ok(seen.some((h) => /SECRET-ONE/.test(h) && /SECRET-FIVE/.test(h)), 'metric exports carried the common and the metrics headers');
    assert.ok(seen.some((h) => /SECRET-ONE/.test(h) && /SECRET-THREE/.test(h)), 'span exports carried the common and the traces headers');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('--print-config masks every header key, from OTEL_* and MEMWATCHER_* alike, -v or not', async () => {
  for (const env of [SECRETS, MW_SECRETS]) {
    const r = await runCli(['--print-config', '-v'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, SECRET_RE);
    const cfg = JSON.parse(r.stdout) as { otlp: Record<string, string> };
    for (const k of ['headers', 'metrics_headers', 'traces_headers']) assert.notEqual(cfg.otlp[k], '', `${k} is shown as set (masked)`);
  }
});

test('malformed header values: the error names the entry, never its content (config and runtime parser)', async () => {
  const r = await runCli(['-s', '--exporter', 'otlp', '-v'], { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer SECRET-ONE,SECRET-TWO' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /otlp\.headers .*entry \(number 2 of 2\)/);
  assert.doesNotMatch(r.stderr, SECRET_RE);
  assert.throws(() => parseKeyValueList('a=1,SECRET-THREE', 'OTLP headers'), (e: Error) => /entry 2 of 2/.test(e.message) && !SECRET_RE.test(e.message));
});

test('OTLP header values with CR/LF (raw or percent-encoded) or a bad name are refused at start: exit 2, one line, the value not echoed', async () => {
  for (const headers of ['x-key=SECRET-ONE%0D%0Ax-evil:%201', 'x-key=SECRET-ONE\r\nx-evil: 1', 'x key=SECRET-ONE']) {
    const r = await runCli(['-s', '--exporter', 'otlp'], { OTEL_EXPORTER_OTLP_HEADERS: headers });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /otlp\.headers \(from OTEL_EXPORTER_OTLP_HEADERS\)/);
    assert.doesNotMatch(r.stderr, SECRET_RE);
  }
});

test('credentials in an endpoint URL (user:password@) are masked in --print-config and in the logs', async () => {
  const endpoint = 'http://agent:SECRET-TWO@127.0.0.1:1';
  const p = await runCli(['--print-config', '-v'], { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces` });
  assert.equal(p.code, 0, p.stderr);
  assert.doesNotMatch(p.stdout + p.stderr, SECRET_RE);
  const cfg = JSON.parse(p.stdout) as { otlp: Record<string, string> };
  assert.equal(cfg.otlp.endpoint, 'http://***@127.0.0.1:1', 'shown as set, host kept');
  const r = await runCli(['-s', '--exporter', 'otlp', '--interval', '0.5', '--duration', '2', '-v'], { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: '500' });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, SECRET_RE);
});

function nonLoopbackIPv4(): string | undefined {
  return Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

function listeners(port: number): string[] {
  return execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)[3]!);
}

test('the Prometheus endpoint binds where configured: 127.0.0.1 is not reachable on the host\'s other address; the default listens on all', async () => {
  const other = nonLoopbackIPv4();
  for (const host of ['127.0.0.1', undefined]) {
    const port = await freePort();
    const cli = startCli(['-s', '--exporter', 'prometheus', '--interval', '0.5'], { MEMWATCHER_PROMETHEUS_PORT: String(port), ...(host ? { MEMWATCHER_PROMETHEUS_HOST: host } : {}) });
    try {
      await cli.waitForOutput(/attached with/, 15_000);
      for (let i = 0; i < 50 && listeners(port).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      if (host) {
        assert.deepEqual(listeners(port), [`127.0.0.1:${port}`], 'ss -ltn: bound to loopback only');
        assert.equal(await connects('127.0.0.1', port), true);
        if (other) assert.equal(await connects(other, port), false, `not reachable on ${other}`);
      } else {
        assert.ok(listeners(port).some((a) => a === `0.0.0.0:${port}` || a === `*:${port}` || a === `[::]:${port}`), `default binds all addresses: ${listeners(port)}`);
        if (other) assert.equal(await connects(other, port), true);
      }
      cli.child.kill('SIGTERM');
      assert.equal((await cli.exited).code, 0);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  }
});

test('no shell is built from user input: src/ never uses exec/execSync, shell: true, or sh -c', () => {
  const offenders: string[] = [];
  for (const file of sourceFiles()) {
    const text = code(file);
    const rel = relative(SRC, file);
    const imports = [...text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(?:node:)?child_process'/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]));
    for (const fn of ['exec', 'execSync']) if (imports.includes(fn)) offenders.push(`${rel}: imports ${fn} from child_process`);
    if (/from\s*'(?:node:)?child_process'/.test(text) && /import\s*\*\s*as\s*\w+\s*from\s*'(?:node:)?child_process'/.test(text)) offenders.push(`${rel}: namespace import of child_process`);
    if (/\bshell\s*:\s*(true|['"`])/.test(text)) offenders.push(`${rel}: shell option`);
    if (/['"`](\/bin\/)?(ba|da)?sh['"`]\s*,\s*\[\s*['"`]-c['"`]/.test(text)) offenders.push(`${rel}: sh -c`);
    if (/require\(\s*['"](node:)?child_process['"]\s*\)/.test(text)) offenders.push(`${rel}: require('child_process')`);
  }
  assert.deepEqual(offenders, []);
});

test('--memleak-command runs by argv: shell syntax reaches the program as plain text', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-argv-'));
  const marker = join(dir, 'pwned');
  const r = await runCli(['--memleak-command', `/bin/echo hello;touch ${marker} $(id) |cat`, '--exporter', 'none', '--interval', '0.5', '--duration', '5']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^hello;touch ${marker} \\$\\(id\\) \\|cat$`, 'm'), 'echo printed its arguments verbatim');
  assert.equal(existsSync(marker), false, 'nothing was run by a shell');
});

test('paths through /proc/PID/root (a container controls what they resolve to) are used only where reviewed', () => {
  // symbolize/module.ts opens /proc/PID/map_files/START-END first and accepts a /proc/PID/root
  // path only when the opened file has the mapping's device and inode (a symlink to one of our
  // files, a FIFO or a device is refused). host/attach-file.ts does the same for uprobes and
  // hands libbpf /proc/self/fd/N of the checked file, so nothing walks the path a second time.
  const reviewed: Record<string, string> = {
    'symbolize/module.ts': 'checked: map_files first, resolved with O_PATH and device/inode verified before any open (host/open-checked.ts)',
    'host/attach-file.ts': 'checked: as symbolize, attached by fd',
  };
  const uses = sourceFiles().filter((f) => /\/proc\/\$\{[^}]+\}\/root/.test(code(f))).map((f) => relative(SRC, f));
  assert.deepEqual(uses.filter((u) => !(u in reviewed)), [], 'a new use of /proc/PID/root needs the device/inode check of symbolize/module.ts');
});

test('--memleak-command: the traced program gets its own environment: no OTEL_* or MEMWATCHER_* (endpoint credentials, header secrets) reach it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-env-'));
  const script = join(dir, 'env.sh');
  writeFileSync(script, '#!/bin/sh\nenv\n', { mode: 0o755 });
  const r = await runCli(['--memleak-command', script, '--exporter', 'console', '--interval', '0.5'], {
    ...SECRETS, ...MW_SECRETS,
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:SECRET-ONE@127.0.0.1:1',
    OTEL_SERVICE_NAME: 'agent-name',
    MEMWATCHER_PROBES_MEMLEAK_TOP: '5',
    USERS_OWN: 'kept',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^USERS_OWN=kept$/m, 'the rest of the environment is passed on');
  assert.doesNotMatch(r.stdout, /^(OTEL|MEMWATCHER)_/m);
  assert.doesNotMatch(r.stdout, SECRET_RE);
});

test('a process named with terminal escapes (its comm, argv[0]) is shown with them as ? in the console and the log, as ps does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-esc-'));
  // Clear the screen, turn the text red, ring the bell: what a hostile name could do to an operator's terminal.
  const name = '\x1b[2J\x1b[31mred\x07';
  const link = join(dir, name);
  symlinkSync('/bin/true', link);
  const r = await runCli(['--memleak-command', link, '--exporter', 'console', '--interval', '0.5'], { PATH: `${dir}:/usr/bin:/bin` });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pid \d+ \(\?\[2J\?\[31mred\?\)/, `the report names the process, escapes shown as ?:\n${r.stdout}`);
  assert.match(r.stderr, /memleak: tracing \?\[2J\?\[31mred\? \(pid/);
  for (const [what, text] of [['stdout', r.stdout], ['stderr', r.stderr]]) {
    assert.doesNotMatch(text!, /[\x00-\x08\x0b-\x1f\x7f]/, `no control character reaches ${what}`);
  }
});

test('a process named with a newline cannot forge a line of console output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-nl-'));
  const link = join(dir, 'x\nstack_id=0x1');
  symlinkSync('/bin/sleep', link);
  const victim = spawn(link, ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => victim.once('spawn', r));
    for (let i = 0; i < 50 && !readFileSync(`/proc/${victim.pid}/comm`, 'latin1').startsWith('x\n'); i++) await new Promise((r) => setTimeout(r, 20));
    const r = await runCli(['-l', String(victim.pid), '--exporter', 'console', '--interval', '0.5', '--memleak-count', '1'], {}, 30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`pid ${victim.pid} \\(x\\?stack_id=0x1\\)`), r.stdout);
    assert.doesNotMatch(r.stdout, /^stack_id=0x1\)/m, 'the name broke the line and forged a stack line');
  } finally {
    victim.kill('SIGKILL');
  }
});

/** Pids whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]) === ppid;
    } catch { return false; }
  });
}

test('--memleak-command: a SIGKILLed agent takes the traced program with it (PR_SET_PDEATHSIG)', async () => {
  const cli = startCli(['--memleak-command', 'sleep 3600', '--exporter', 'none', '--interval', '1']);
  try {
    await cli.waitForOutput(/tracing sleep \(pid (\d+)\) from its first instruction/, 30_000);
    const pid = Number(/tracing sleep \(pid (\d+)\)/.exec(cli.stderr())![1]);
    assert.ok(childrenOf(cli.child.pid!).includes(pid), 'sleep is the agent\'s child');
    cli.child.kill('SIGKILL');
    await cli.exited;
    // The kernel signals the child as the agent's last thread exits; a bound a hang would fail.
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(existsSync(`/proc/${pid}`), false, 'the traced sleep outlived the killed agent');
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  }
});

/** TCP ports process `pid` listens on (its socket inodes matched against /proc/net/tcp{,6}). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch { /* closed meanwhile */ }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9] ?? '')) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

test('SIGUSR1 opens no inspector on a running agent (it would evaluate code as root) and does not stop it', async () => {
  const run = startCli(['-s', '--interval', '1', '--duration', '20']);
  try {
    await run.waitForOutput(/ACTIVE/);
    assert.deepEqual(listeningPorts(run.child.pid!), [], 'nothing listens before the signal');
    run.child.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(run.child.exitCode, null, 'the agent keeps running');
    assert.deepEqual(listeningPorts(run.child.pid!), [], 'no debugger port opened');
    assert.doesNotMatch(run.stderr(), /Debugger listening|inspector/i);
  } finally {
    run.child.kill('SIGINT');
    await run.exited;
  }
});

test('every launcher starts Node with --disable-sigusr1: bin/mem-watcher, npm start, the image entry point', () => {
  const root = join(import.meta.dirname, '../..');
  assert.match(readFileSync(join(root, 'bin/mem-watcher'), 'utf8'), /node" --disable-sigusr1 /);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, /node --disable-sigusr1 src\/cli\/main\.ts/);
  for (const line of readFileSync(join(root, 'Dockerfile'), 'utf8').split('\n').filter((l) => /^ENTRYPOINT .*main\.ts/.test(l))) {
    assert.match(line, /"--disable-sigusr1"/);
  }
});
