// Runs the real CLI (bin/mem-watcher) as a child process and watches its output.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { scaled } from '../../harness/time-scale.ts';

export const BIN = join(import.meta.dirname, '../../bin/mem-watcher');

export interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout+stderr match `re`; rejects after the timeout (scaled: time-scale.ts). */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(args: string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(BIN, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (d) => { out += d; notify(); });
  child.stderr!.on('data', (d) => { err += d; notify(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => { notify(); resolve({ code, signal }); }));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(re, timeoutMs = 10_000) {
      const limit = scaled(timeoutMs);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no output matching ${re} within ${limit} ms; stdout:\n${out.slice(-2000)}\nstderr:\n${err.slice(-2000)}`)), limit);
        const check = () => {
          const m = (out + '\n' + err).match(re);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`exited ${child.exitCode} before output matching ${re}; stdout:\n${out.slice(-2000)}\nstderr:\n${err.slice(-2000)}`));
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/** Runs the CLI to completion; killed after the timeout (scaled: time-scale.ts). */
export async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000) {
  const run = startCli(args, env);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), scaled(timeoutMs));
  const { code, signal } = await run.exited;
  clearTimeout(timer);
  return { code, signal, stdout: run.stdout(), stderr: run.stderr() };
}

/** IDs of loaded BPF programs whose names start with one of `prefixes` (bpftool prog show). */
export function loadedPrograms(prefixes: string[]): Array<{ id: number; name: string }> {
  const json = execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  const progs = JSON.parse(json) as Array<{ id: number; name?: string }>;
  return progs.filter((p) => p.name && prefixes.some((x) => p.name!.startsWith(x))).map((p) => ({ id: p.id, name: p.name! }));
}

/** IDs of BPF links (bpftool link show). */
export function loadedLinks(): number[] {
  const json = execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(json) as Array<{ id: number }>).map((l) => l.id);
}

/** BPF programs and links held open by process `pid` (from its fdinfo: exact ownership). */
export function bpfObjectsOf(pid: number): { progs: number[]; links: number[] } {
  const progs = new Set<number>();
  const links = new Set<number>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return { progs: [], links: [] };
  }
  for (const fd of fds) {
    let info = '';
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const link = /^link_id:\s+(\d+)/m.exec(info);
    const prog = /^prog_id:\s+(\d+)/m.exec(info);
    if (link) links.add(Number(link[1]));
    else if (prog) progs.add(Number(prog[1]));
  }
  return { progs: [...progs], links: [...links] };
}

/** Program IDs loaded in the kernel right now. */
export function loadedProgramIds(): Set<number> {
  return new Set((JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number }>).map((p) => p.id));
}
