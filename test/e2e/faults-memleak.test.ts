// memleak's target going away under it: the process exits, execs another program, or exits
// while mem-watcher is still attaching. The report says what happened, the uprobes go, the
// rest of the run carries on, and nothing is left attached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bpfObjectsOf, loadedLinks, startCli, type CliRun } from '../helpers/cli.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A shell running `script`; scripts that `read` wait for a line on stdin (the test says when). */
function target(script: string): ChildProcess {
  return spawn('sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'] });
}

async function linksOf(cli: CliRun, atLeast: number, timeoutMs = 5000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const links = bpfObjectsOf(cli.child.pid!).links;
    if (links.length >= atLeast || Date.now() > deadline) return links;
    await sleep(100);
  }
}

async function stopped(cli: CliRun): Promise<void> {
  cli.child.kill('SIGTERM');
  const { code } = await cli.exited;
  assert.equal(code, 0, cli.stderr());
  assert.doesNotMatch(cli.stderr(), /\n\s+at /, 'no stack trace');
}

for (const c of [
  { how: 'exits', script: 'read x; exit 0', said: /memleak: \S+ \(pid (\d+)\) exited: final report, uprobes detached/, report: /pid (\d+) \(\S+\): .*process exited: final report/ },
  { how: 'execs another program', script: 'read x; exec sleep 30', said: /memleak: \S+ \(pid (\d+)\) exec'd another program: final report, uprobes detached/, report: /pid (\d+) \(\S+\): .*process exec'd another program: final report/ },
] as const) {
  test(`the traced process ${c.how} mid-run: final report says so, its uprobes are detached, the other probes carry on`, async () => {
    const t = target(c.script);
    const cli = startCli(['-s', '-l', String(t.pid), '--interval', '0.5', '--exporter', 'console']);
    try {
      await cli.waitForOutput(/memleak: attached with uprobe/, 10_000);
      const attached = await linksOf(cli, 4);
      await cli.waitForOutput(/pid \d+ \(\S+\): top \d+ of/, 5000); // a first report while it runs
      t.stdin!.end('go\n');
      const m = await cli.waitForOutput(c.said, 10_000);
      assert.equal(Number(m[1]), t.pid);
      await cli.waitForOutput(c.report, 5000);
      await sleep(500); // detaching runs off the event loop
      const after = bpfObjectsOf(cli.child.pid!).links;
      const detached = attached.filter((id) => !after.includes(id));
      assert.ok(detached.length >= 3, `malloc entry/exit and free uprobes detached (links ${attached.length} -> ${after.length})`);
      const live = new Set(loadedLinks());
      assert.ok(detached.every((id) => !live.has(id)), 'gone from the kernel, not just from our fd table');
      // sysstat keeps printing after the target is gone.
      const rows = cli.stdout().split('\n').filter((l) => /^sysstat\s+\d/.test(l)).length;
      await cli.waitForOutput(new RegExp(`(?:sysstat\\s+\\d[^\\n]*\\n[\\s\\S]*){${rows + 1}}`), 10_000);
      assert.equal(cli.child.exitCode, null, 'still running');
      await stopped(cli);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      t.kill('SIGKILL');
    }
  });
}

test('the traced process exits while mem-watcher starts or attaches: exit 2 with one line, or memleak skipped with the reason, or a final report; never a crash', async () => {
  for (const lifeMs of [150, 400, 800]) {
    const t = target(`sleep ${lifeMs / 1000}`);
    const cli = startCli(['-s', '-l', String(t.pid), '--interval', '0.5', '--exporter', 'console', '--duration', '3']);
    try {
      const { code } = await cli.exited;
      const err = cli.stderr();
      assert.doesNotMatch(err, /\n\s+at /, `no stack trace (life ${lifeMs} ms)`);
      if (code === 2) {
        // Gone before the preflight: one line naming the flag.
        assert.match(err.trim(), /^mem-watcher: -l \d+ \(probes\.memleak\.pids\): (no process \d+ is running|process \d+ \(sh\) has exited): check the pid$/);
      } else {
        assert.equal(code, 0, err);
        // Gone during attach (memleak skipped with the reason) or after (final report).
        assert.match(err, /memleak skipped: .*(does not exist|no such process|no such file|ENOENT|ESRCH)|memleak: \S+ \(pid \d+\) exited: final report/i, `life ${lifeMs} ms:\n${err}`);
        assert.match(cli.stdout(), /ACTIVE/, 'sysstat ran');
      }
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      t.kill('SIGKILL');
    }
  }
});

const MANY_MAPS_C = `
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  long n = atol(argv[1]);
  for (long i = 0; i < n; i++)
    /* alternating protections keep neighbours from merging into one mapping */
    if (mmap(NULL, 4096, (i & 1) ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) return 1;
  puts("mapped");
  fflush(stdout);
  for (;;) { free(malloc(100)); usleep(1000); }
}
`;

/** CPU seconds (user + system) process `pid` has used. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

test('a traced process with 60,000 mappings (a huge /proc/PID/maps): memleak keeps reporting and re-reading its maps costs the agent little CPU', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-maps-'));
  writeFileSync(join(dir, 'many.c'), MANY_MAPS_C);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'many'), join(dir, 'many.c')]);
  const proc = spawn(join(dir, 'many'), ['60000'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let cli: CliRun | undefined;
  try {
    await new Promise((r) => proc.stdout!.once('data', r));
    assert.ok(readFileSync(`/proc/${proc.pid}/maps`, 'latin1').split('\n').length > 60_000);
    cli = startCli(['-l', String(proc.pid), '-s', '--exporter', 'console', '--interval', '1']);
    await cli.waitForOutput(/memleak\s+\[\d\d:\d\d:\d\d\] pid \d+ \(many\)/, 30_000);
    const reports = () => (cli!.stdout().match(/pid \d+ \(many\): top/g) ?? []).length;
    const cpu0 = cpuSeconds(cli.child.pid!);
    const reports0 = reports();
    const t0 = Date.now();
    await sleep(8000);
    const share = (cpuSeconds(cli.child.pid!) - cpu0) / ((Date.now() - t0) / 1000);
    assert.ok(reports() > reports0, 'reports keep coming');
    // Re-read every second (as before), its 2.9 MB of maps took a fifth of a core here; now 1%.
    assert.ok(share < 0.1, `the agent used ${(share * 100).toFixed(0)}% of a core tracing it`);
    await stopped(cli);
  } finally {
    if (cli && cli.child.exitCode === null) cli.child.kill('SIGKILL');
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the traced pid is reused by a new process after the target exits: the newcomer is not traced or reported under the old name', async (tc) => {
  const t = target('read x; exit 0');
  const pid = t.pid!;
  const cli = startCli(['-s', '-l', String(pid), '--interval', '0.5', '--exporter', 'console']);
  let newcomer: ChildProcess | undefined;
  try {
    await cli.waitForOutput(/pid \d+ \(sh\): top \d+ of/, 15_000);
    t.stdin!.end('go\n');
    await cli.waitForOutput(new RegExp(`memleak: sh \\(pid ${pid}\\) exited: final report`), 10_000);
    if (t.exitCode === null && t.signalCode === null) await new Promise((r) => t.once('exit', r));
    // The final report (symbolized, so later than its log line) is the old process's last word.
    await cli.waitForOutput(new RegExp(`pid ${pid} \\(sh\\): .*process exited: final report`), 15_000);
    await new Promise((r) => setTimeout(r, 500));
    const before = cli.stdout().length;
    // Hand the pid out again (root: the next pid is ns_last_pid + 1); another process on the host
    // may take it first, so try a few times.
    for (let i = 0; i < 20 && newcomer?.pid !== pid; i++) {
      newcomer?.kill('SIGKILL');
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
      newcomer = spawn('python3', ['-c', 'import time\nb = []\nwhile True:\n    b.append(bytearray(4096)); time.sleep(0.001)'], { stdio: 'ignore' });
    }
    if (newcomer?.pid !== pid) {
      tc.skip('the host handed the pid to another process every time');
      return;
    }
    const rows = cli.stdout().split('\n').filter((l) => /^sysstat\s+\d/.test(l)).length;
    await cli.waitForOutput(new RegExp(`(?:sysstat\\s+\\d[^\\n]*\\n[\\s\\S]*){${rows + 4}}`), 15_000); // two seconds of intervals
    assert.doesNotMatch(cli.stdout().slice(before), new RegExp(`pid ${pid} \\(`), 'a report about the process that reused the pid');
    assert.doesNotMatch(cli.stderr(), /memleak: tracing|python/, cli.stderr());
    await stopped(cli);
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    t.kill('SIGKILL');
    newcomer?.kill('SIGKILL');
  }
});
