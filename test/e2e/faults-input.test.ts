// Bad input through the real CLI: a sample of the config matrix (test/unit/config-matrix.test.ts
// covers every key in-process), and the targets a user names: pids that do not exist or are
// kernel threads, a library that is not ELF, a command that is not there. Each is exit 2 with
// one line naming what to fix, with no stack trace, -v or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'mw-input-'));
const SECRET = 'S3CRET-T0KEN';

interface Case {
  args: string[];
  env?: Record<string, string>;
  says: RegExp;
}

/** A pid no process can have: beyond the kernel's pid_max (a recently freed pid may be reused by a busy host). */
function deadPid(): number {
  return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;
}

/** Runs `jobs` with at most `n` at a time (the host has two cores). */
async function pool<T>(jobs: Array<() => Promise<T>>, n: number): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  }));
  return out;
}

const cases = async (): Promise<Case[]> => {
  const notElf = join(dir, 'libfake.so');
  writeFileSync(notElf, 'not an ELF file\n');
  const plain = join(dir, 'plain.txt');
  writeFileSync(plain, 'hello\n', { mode: 0o644 });
  const bools = join(dir, 'bools.json');
  writeFileSync(bools, JSON.stringify({ probes: { sysstat: { enabled: 'maybe' } } }));
  const gone = deadPid();
  return [
    { args: ['-l', String(gone)], says: new RegExp(`^mem-watcher: -l ${gone} \\(probes\\.memleak\\.pids\\): no process ${gone} is running: check the pid$`) },
    { args: ['-s', '-l', '2'], says: /^mem-watcher: -l 2 \(probes\.memleak\.pids\): process 2 \(kthreadd\) is a kernel thread, with no user-space memory: .*--memleak-kernel/ },
    { args: ['-r', '--pid', String(gone)], says: new RegExp(`^mem-watcher: --pid ${gone} \\(probes\\.procstat\\.pids\\): no process ${gone} is running`) },
    { args: ['-r', '--pid', '2'], says: /^mem-watcher: --pid 2 \(probes\.procstat\.pids\): process 2 \(kthreadd\) is a kernel thread/ },
    { args: ['-l', String(process.pid), '--memleak-lib', notElf], says: /^mem-watcher: --memleak-lib \S+libfake\.so \(probes\.memleak\.lib\) is not an ELF shared library/ },
    { args: ['--memleak-command', 'no-such-program-here'], says: /^mem-watcher: --memleak-command: no-such-program-here not found in PATH/ },
    { args: ['--memleak-command', plain], says: /^mem-watcher: --memleak-command: \S+plain\.txt is not an executable file/ },
    { args: ['--memleak-command', '  '], says: /^mem-watcher: --memleak-command needs a program to run/ },
    { args: ['--exporter', 'none'], env: { MEMWATCHER_PROBES_SYSSTAT_ENABLED: 'maybe' }, says: /^mem-watcher: probes\.sysstat\.enabled \(from MEMWATCHER_PROBES_SYSSTAT_ENABLED\) must be true or false/ },
    { args: ['-c', bools], says: /^mem-watcher: probes\.sysstat\.enabled \(from \S+bools\.json\) must be true or false/ },
    { args: ['--exporter', 'otlp'], env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' }, says: /^mem-watcher: otlp\.endpoint \(from OTEL_EXPORTER_OTLP_ENDPOINT\) must be an http:\/\/ or https:\/\/ URL/ },
    { args: ['--exporter', 'otlp'], env: { OTEL_EXPORTER_OTLP_HEADERS: `api-key=${SECRET},${SECRET}` }, says: /^mem-watcher: otlp\.headers \(from OTEL_EXPORTER_OTLP_HEADERS\) has an entry \(number 2 of 2\) that is not key=value/ },
    { args: [], env: { MEMWATCHER_PROBES_SYSSTAT_ENABLED: 'false', MEMWATCHER_PROBES_PROCSTAT_ENABLED: '0', MEMWATCHER_PROBES_PAF_ENABLED: 'no', MEMWATCHER_PROBES_PR_ENABLED: 'off', MEMWATCHER_PROBES_OOM_ENABLED: 'false' }, says: /^mem-watcher: no probe is enabled: name one/ },
  ];
};

test('bad targets and bad values: exit 2, one line naming what to fix, no stack trace, with or without -v', async () => {
  const all = await cases();
  // Every case plain, and every fourth one with -v as well.
  const jobs = all.flatMap((c, i) => [false, ...(i % 4 === 0 ? [true] : [])].map((verbose) => async () =>
    ({ c, verbose, r: await runCli([...c.args, ...(verbose ? ['-v'] : []), '--duration', '1'], c.env ?? {}) })));
  const runs = await pool(jobs, 4);
  for (const { c, verbose, r } of runs) {
    const what = `${c.args.join(' ')} ${JSON.stringify(c.env ?? {})}${verbose ? ' -v' : ''}`;
    assert.equal(r.code, 2, `${what}: exit code; stderr: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: one line, got:\n${r.stderr}`);
    assert.match(lines[0]!, c.says, what);
    assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, `${what}: no stack trace`);
    assert.ok(!r.stderr.includes(SECRET) && !r.stdout.includes(SECRET), `${what}: no secret echoed`);
  }
});
