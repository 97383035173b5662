// The memleak tests' target: test/fixtures/memleak/leaker.c compiled into a temp dir, its call
// sites (by @TAG comment) and a driver for its stdin commands.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MemleakReport, MemleakStack } from '../../src/probes/memleak/index.ts';
import { firstUserFrame } from '../../src/probes/memleak/report.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/memleak');
export const LEAKER_SOURCE = join(FIXTURES, 'leaker.c');
export const PREFIXED_USER_SOURCE = join(FIXTURES, 'prefixed-user.c');

/** Line of each @TAG in the source. */
export function tagLines(source = LEAKER_SOURCE): Record<string, number> {
  const out: Record<string, number> = {};
  readFileSync(source, 'utf8').split('\n').forEach((line, i) => {
    const m = /\/\/ @([A-Z_]+)\s*$/.exec(line);
    if (m) out[m[1]!] = i + 1;
  });
  return out;
}

export interface Build {
  dir: string;
  /** -g, frame pointers, -O0 */
  debug: string;
  /** the same, stripped of every symbol table but .dynsym (exported with -rdynamic) */
  strippedDynsym: string;
  /** the same, fully stripped: no function names at all */
  stripped: string;
  /** prefixed-user.c, allocating through libprefixed.so's je_malloc/je_free */
  prefixedUser: string;
  cleanup(): void;
}

export function buildLeaker(): Build {
  const dir = mkdtempSync(join(tmpdir(), 'memleak-test-'));
  const cc = (out: string, extra: string[]) => {
    execFileSync('gcc', ['-g', '-fno-omit-frame-pointer', '-O0', '-pthread', '-o', join(dir, out), LEAKER_SOURCE, ...extra]);
    return join(dir, out);
  };
  return {
    dir,
    debug: cc('leaker', []),
    strippedDynsym: cc('leaker-dynsym', ['-rdynamic', '-s']),
    stripped: cc('leaker-stripped', ['-s']),
    prefixedUser: buildPrefixed(dir),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function buildPrefixed(dir: string): string {
  const flags = ['-g', '-fno-omit-frame-pointer', '-O0'];
  execFileSync('gcc', [...flags, '-shared', '-fPIC', '-o', join(dir, 'libprefixed.so'), join(FIXTURES, 'prefixed-alloc.c')]);
  const bin = join(dir, 'prefixed-user');
  execFileSync('gcc', [...flags, '-o', bin, PREFIXED_USER_SOURCE, `-L${dir}`, '-lprefixed', `-Wl,-rpath,${dir}`]);
  return bin;
}

/** Function symbols of an ELF file, by address (nm). */
export function functionAddresses(binary: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of execFileSync('nm', ['--defined-only', binary], { encoding: 'utf8' }).split('\n')) {
    const [addr, type, name] = line.trim().split(/\s+/);
    if (addr && name && /^[tT]$/.test(type ?? '')) out.set(name, BigInt('0x' + addr));
  }
  return out;
}

export interface Leaker {
  child: ChildProcess;
  pid: number;
  /** Sends a command line and resolves at its "done". */
  run(command: string): Promise<void>;
  exited: Promise<number | null>;
  kill(): void;
}

export async function startLeaker(binary: string, env: NodeJS.ProcessEnv = process.env): Promise<Leaker> {
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'], env });
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d) => {
    out += d;
    waiters.splice(0).forEach((w) => w());
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const waitLine = (line: string, count: number) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`leaker: no "${line}" within 10 s; output: ${out}`)), 10_000);
    const check = () => {
      if (out.split('\n').filter((l) => l === line).length >= count) {
        clearTimeout(timer);
        resolve();
      } else waiters.push(check);
    };
    check();
  });
  await waitLine('ready', 1);
  let done = 0;
  return {
    child,
    pid: child.pid!,
    async run(command) {
      child.stdin!.write(command + '\n');
      await waitLine('done', ++done);
    },
    exited,
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export interface Site {
  function: string;
  line: number;
  bytes: number;
  allocations: number;
  stacks: MemleakStack[];
}

/** Outstanding allocations per call site (first frame outside the allocator), summed over stacks. */
export function sites(report: MemleakReport): Map<string, Site> {
  const out = new Map<string, Site>();
  for (const s of report.top) {
    const f = firstUserFrame(s, report);
    if (f?.function === undefined) continue;
    const key = `${f.function}:${f.line ?? 0}`;
    let site = out.get(key);
    if (!site) out.set(key, (site = { function: f.function, line: f.line ?? 0, bytes: 0, allocations: 0, stacks: [] }));
    site.bytes += s.bytes;
    site.allocations += s.allocations;
    site.stacks.push(s);
  }
  return out;
}

/** What the scenario ("go") leaves outstanding, by site tag. */
export const SCENARIO_LEAKS: Record<string, { function: string; bytes: number; allocations: number; caller: string }> = {
  LEAK_MALLOC: { function: 'leak_malloc', bytes: 8 * 1000, allocations: 8, caller: 'thread_a' },
  LEAK_BIG: { function: 'leak_big', bytes: 2 * 300000, allocations: 2, caller: 'thread_a' },
  LEAK_CALLOC: { function: 'leak_calloc', bytes: 5 * 1000, allocations: 5, caller: 'thread_b' },
  LEAK_REALLOC: { function: 'leak_realloc', bytes: 4 * 3000, allocations: 4, caller: 'thread_b' },
  LEAK_MEMALIGN: { function: 'leak_memalign', bytes: 3 * 4096, allocations: 3, caller: 'thread_c' },
  LEAK_ALIGNED: { function: 'leak_aligned', bytes: 6 * 2048, allocations: 6, caller: 'thread_c' },
  LEAK_MMAP: { function: 'leak_mmap', bytes: 2 * 8192, allocations: 2, caller: 'thread_d' },
};

/** Our own perf-event and BPF-link descriptors (each uprobe holds one of each). */
export function probeFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target === 'anon_inode:[perf_event]' || target === 'anon_inode:bpf_link') n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}
