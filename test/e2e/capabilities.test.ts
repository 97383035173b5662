// The capabilities the DaemonSet grants, and nothing else (capsh drops the rest from the
// bounding set before exec, so the agent starts as root with exactly those): every probe of
// the default set attaches; memleak, which needs uprobes, either attaches or is refused in one
// line naming CAP_SYS_ADMIN (Linux 6.16+ lets only CAP_SYS_ADMIN create uprobes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { BIN } from '../helpers/cli.ts';
import { scaled } from '../../harness/time-scale.ts';

const ROOT = join(import.meta.dirname, '../..');
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

function daemonSetContainer(): { args: string[]; securityContext: { capabilities: { add: string[] } } } {
  const docs = YAML.parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes/daemonset.yaml'), 'utf8')).map((d) => d.toJS());
  return docs.find((d) => d?.kind === 'DaemonSet').spec.template.spec.containers[0];
}

/** The capabilities the DaemonSet's container adds, as capsh names them. */
function daemonSetCapabilities(): string[] {
  return daemonSetContainer().securityContext.capabilities.add.map((c) => `cap_${c.toLowerCase()}`);
}

/** Runs the CLI as root with only `caps` in its bounding (so effective) set. */
function runWith(caps: string[], args: string[]): Promise<{ code: number | null; stderr: string }> {
  const all = spawnSync('capsh', ['--print'], { encoding: 'utf8' }).stdout ?? '';
  assert.match(all, /^Bounding set =/m, 'capsh (Debian libcap2-bin, installed by scripts/setup.sh --test) prints the bounding set');
  const bounding = /^Bounding set =(.*)$/m.exec(all)![1]!.split(',').map((c) => c.trim()).filter(Boolean);
  const drop = bounding.filter((c) => !caps.includes(c));
  const child = spawn('capsh', [`--drop=${drop.join(',')}`, '--', '-c', 'exec "$0" "$@"', BIN, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), scaled(60_000));
  return new Promise((resolve) => child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }); }));
}

test('exactly the DaemonSet\'s capabilities and arguments: every probe it runs attaches, and says why when a cheaper strategy was refused', { skip }, async () => {
  const caps = daemonSetCapabilities();
  assert.ok(!caps.includes('cap_sys_admin'), `the DaemonSet grants ${caps.join(', ')}`);
  const args = daemonSetContainer().args;
  const { code, stderr } = await runWith(caps, [...args, '--exporter', 'none', '--duration', '2']);
  assert.equal(code, 0, stderr);
  const probes = args.filter((a) => a.startsWith('--')).map((a) => a.slice(2));
  assert.ok(probes.includes('growth'), `the DaemonSet runs growth: ${args.join(' ')}`);
  for (const probe of probes) assert.match(stderr, new RegExp(`^mem-watcher info: ${probe}: attached with \\w+`, 'm'), stderr);
  assert.doesNotMatch(stderr, /skipped/);
  for (const line of stderr.split('\n').filter((l) => / attached with \w+ \(/.test(l))) assert.match(line, /refused: .*(CAP_\w+|not compiled in|EPERM|ENOENT|BTF)/, line);
});

test('exactly the DaemonSet\'s capabilities: memleak attaches, or is refused in one line naming CAP_SYS_ADMIN', { skip }, async () => {
  const target = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const { code, stderr } = await runWith(daemonSetCapabilities(), ['-l', String(target.pid), '--exporter', 'none', '--duration', '2']);
    if (code === 0) return assert.match(stderr, /memleak: attached with uprobe/);
    assert.equal(code, 1, stderr);
    const last = stderr.trim().split('\n').at(-1)!;
    assert.match(last, /^mem-watcher: no probe could attach .*memleak: .*only CAP_SYS_ADMIN create uprobes.*add CAP_SYS_ADMIN/, stderr);
  } finally {
    target.kill('SIGKILL');
  }
});
