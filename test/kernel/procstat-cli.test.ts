// `mem-watcher -r` as a user runs it: the table's rows for the process asked for carry what
// /proc/PID/status shows (kB), only that process is listed, and the strategy is reported.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildHolder, differences, Holder, statusKb, type HolderBuild } from '../fixtures/procstat-holder.ts';
import { scaled } from '../../harness/time-scale.ts';

const BIN = join(import.meta.dirname, '../../bin/mem-watcher');
const HEADER = ['TIME', 'PID', 'VMSIZE', 'VMDATA', 'VMSTK', 'VMPTE', 'VMSWAP', 'RSSANON', 'RSSFILE', 'RSSSHMEM'];

let build: HolderBuild;
let holder: Holder;
before(async () => {
  build = buildHolder();
  holder = await Holder.start(build.bin, build.dataFile(8), 32, 8, 8);
});
after(() => {
  holder?.kill();
  build?.remove();
});

interface Run {
  /** Resolves with the table once the run has stopped (exit code 0 asserted). */
  done: Promise<{ rows: string[][]; header: string[]; stderr: string }>;
  /** Resolves when a row for `pid` has been printed (or the run is over). */
  rowFor(pid: number): Promise<void>;
}

function start(args: string[]): Run {
  // The kernel-matrix guests export MEMWATCHER_GUEST_* and MEMWATCHER_IN_GUEST for their own
  // scripts; they are no config keys (mem-watcher refuses them), and a user's shell has none.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEMWATCHER_GUEST_') && k !== 'MEMWATCHER_IN_GUEST'));
  const child = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  let exited = false;
  child.stdout.on('data', (d) => {
    stdout += String(d);
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (d) => { stderr += String(d); });
  // A 3 s run that takes more than this hangs: killed, it fails the test with its stderr.
  const killer = setTimeout(() => child.kill('SIGKILL'), scaled(30_000));
  const done = new Promise<{ rows: string[][]; header: string[]; stderr: string }>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      exited = true;
      for (const w of waiters.splice(0)) w();
      if (code !== 0) return reject(new Error(`mem-watcher ${args.join(' ')} ended with ${code ?? signal}: ${stderr}`));
      const lines = stdout.split('\n').filter((l) => l.trim() !== '');
      resolve({ header: lines[0]!.trim().split(/\s+/), rows: lines.slice(1).map((l) => l.trim().split(/\s+/)), stderr });
    });
  });
  const rowFor = (pid: number) => new Promise<void>((resolve) => {
    const check = () => {
      if (exited || stdout.split('\n').some((l) => l.trim().split(/\s+/)[1] === String(pid))) resolve();
      else waiters.push(check);
    };
    check();
  });
  return { done, rowFor };
}

function assertRowMatches(row: string[], pid: number): void {
  assert.match(row[0]!, /^\d\d:\d\d:\d\d$/);
  const kb = Object.fromEntries(HEADER.slice(2).map((h, i) => [h, Number(row[i + 2])]));
  const status = statusKb(pid);
  assert.ok(status);
  // The columns under /proc's names (VmHWM and VmRSS are not columns).
  const asProc = {
    VmSize: kb.VMSIZE!, VmData: kb.VMDATA!, VmStk: kb.VMSTK!, VmPTE: kb.VMPTE!, VmSwap: kb.VMSWAP!,
    RssAnon: kb.RSSANON!, RssFile: kb.RSSFILE!, RssShmem: kb.RSSSHMEM!,
    VmRSS: kb.RSSANON! + kb.RSSFILE! + kb.RSSSHMEM!, VmHWM: status.VmHWM!,
  };
  assert.deepEqual(differences(asProc, status), []);
}

test('-r --pid X prints X\'s memory as /proc/X/status shows it, and nothing else', async () => {
  const { header, rows, stderr } = await start(['-r', '--pid', String(holder.pid), '--interval', '1', '--duration', '3']).done;
  assert.deepEqual(header, HEADER);
  assert.match(stderr, /procstat: attached with (iter|tp_btf|tracepoint|fentry|kprobe)\b/);
  assert.ok(rows.length >= 1, 'a row for the sleeping process (from the start-up snapshot)');
  for (const row of rows) assert.equal(row[1], String(holder.pid));
  const last = rows[rows.length - 1]!;
  assertRowMatches(last, holder.pid);
  assert.ok(Number(last[7]) >= 32 * 1024 && Number(last[9]) >= 8 * 1024, 'RSSANON and RSSSHMEM hold what the holder holds');
});

test('-r --comm NAME selects by command name; a change is printed as a new row', async () => {
  const run = start(['-r', '--comm', 'procstat-holder', '--interval', '1', '--duration', '3']);
  await run.rowFor(holder.pid);
  await holder.command('free-anon 16');
  const { rows } = await run.done;
  const mine = rows.filter((r) => r[1] === String(holder.pid));
  assert.ok(mine.length >= 2, `a row at start and one after the change: ${JSON.stringify(rows)}`);
  // (before 6.2 up to 64 pages per thread are held back from the mm's counters)
  assert.ok(Number(mine[0]![7]) - Number(mine[mine.length - 1]![7]) >= 16 * 1024 - 256, `RSSANON dropped by 16 MiB: ${JSON.stringify(mine)}`);
  assertRowMatches(mine[mine.length - 1]!, holder.pid);
});
