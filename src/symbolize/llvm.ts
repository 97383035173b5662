// llvm-symbolizer kept running as a helper: one request per line on stdin, one JSON answer per
// line on stdout, in order. Batches are written in one go and bounded by a timeout; a helper
// that hangs, dies or answers out of step is killed and started afresh on the next batch.
// Two allowances: loading a module's debug info (and the helper's own start) is slow, answering
// from modules already loaded is fast. A batch naming a module this helper has not answered for
// gets the long one (loadTimeoutMs); a batch of known modules that overruns the short one
// (timeoutMs) is asked once more of a fresh helper, under the long one, before names are dropped.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Logger } from '../log.ts';

export const LLVM_ARGS = ['--output-style=JSON', '--inlines', '--demangle', '--functions=linkage'] as const;

/** The first llvm-symbolizer found: PATH (unversioned, then the newest versioned), then /usr/lib/llvm-N/bin. */
export function findLlvmSymbolizer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const d of dirs) if (executable(join(d, 'llvm-symbolizer'))) return join(d, 'llvm-symbolizer');
  const versioned: Array<{ path: string; v: number }> = [];
  for (const d of [...dirs, ...llvmDirs()]) {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      const m = /^llvm-symbolizer(?:-(\d+))?$/.exec(n);
      if (m && executable(join(d, n))) versioned.push({ path: join(d, n), v: Number(m[1] ?? /llvm-(\d+)/.exec(d)?.[1] ?? 0) });
    }
  }
  versioned.sort((a, b) => b.v - a.v);
  return versioned[0]?.path;
}

function llvmDirs(): string[] {
  try {
    return readdirSync('/usr/lib').filter((n) => /^llvm-\d+$/.test(n)).map((n) => `/usr/lib/${n}/bin`);
  } catch {
    return [];
  }
}

export interface LlvmSymbol {
  FunctionName?: string;
  FileName?: string;
  Line?: number;
  Column?: number;
  StartAddress?: string;
}

export interface LlvmAnswer {
  Address?: string;
  ModuleName?: string;
  Symbol?: LlvmSymbol[];
  Error?: { Message?: string };
}

export interface LlvmRequest {
  module: string;
  address: bigint;
}

function sameAddress(text: unknown, address: bigint): boolean {
  return typeof text === 'string' && /^0x[0-9a-f]+$/i.test(text) && BigInt(text) === address;
}

interface Pending {
  requests: readonly LlvmRequest[];
  answers: LlvmAnswer[];
  resolve: (a: LlvmAnswer[] | undefined | 'overran') => void;
  timer: NodeJS.Timeout;
}

export interface LlvmTimeouts {
  /** Longest wait for a batch whose modules this helper has answered for already. */
  timeoutMs: number;
  /** Longest wait for a batch naming a module new to this helper (its start, reading debug info). */
  loadTimeoutMs: number;
}

/** Consecutive helpers that died before answering anything, after which we stop trying. */
const MAX_FAILED_STARTS = 3;

export class LlvmSymbolizerProcess {
  readonly path: string;
  private readonly log: Logger;
  private readonly timeouts: LlvmTimeouts;
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending | undefined;
  private buffered = '';
  private failedStarts = 0;
  private answeredSinceStart = false;
  private disabledReason: string | undefined;
  /** Modules the running helper has answered for (it keeps them loaded). */
  private loaded = new Set<string>();
  /** Helpers started so far (tests and -v logging). */
  starts = 0;

  constructor(path: string, log: Logger, timeouts: LlvmTimeouts) {
    this.path = path;
    this.log = log;
    this.timeouts = timeouts;
  }

  /** False once the helper could not be started (missing, not executable, no JSON output style). */
  get usable(): boolean {
    return this.disabledReason === undefined;
  }

  /**
   * Answers for `requests`, in order; undefined when the helper failed, hung or is unusable (the
   * caller falls back). One batch at a time: the caller serializes.
   */
  async request(requests: readonly LlvmRequest[]): Promise<LlvmAnswer[] | undefined> {
    if (requests.length === 0) return [];
    const first = await this.attempt(requests);
    if (first !== 'overran') return first;
    // Slow on modules it had loaded: a busy or emulated machine, or a module mapped anew under the
    // same path. A fresh helper gets the long allowance; a second overrun drops the names.
    const second = await this.attempt(requests);
    return second === 'overran' ? undefined : second;
  }

  /** One try; 'overran' when the short allowance ran out (the helper is killed either way). */
  private attempt(requests: readonly LlvmRequest[]): Promise<LlvmAnswer[] | undefined | 'overran'> {
    if (this.pending) throw new Error('llvm-symbolizer: a batch is already in flight');
    const child = this.ensureChild();
    if (!child) return Promise.resolve(undefined);
    const warm = requests.every((r) => this.loaded.has(r.module));
    const ms = warm ? this.timeouts.timeoutMs : this.timeouts.loadTimeoutMs;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.fail(`no answer within ${ms} ms`, warm ? 'overran' : undefined), ms);
      this.pending = { requests, answers: [], resolve, timer };
      const text = requests.map((r) => `CODE ${r.module} 0x${r.address.toString(16)}\n`).join('');
      child.stdin.write(text);
    });
  }

  /**
   * Starts the helper ahead of the first batch: its own start (loading LLVM's libraries) then
   * overlaps whatever the caller does before it has addresses.
   */
  prestart(): void {
    this.ensureChild();
  }

  /** Ends the helper; the next request starts a new one. */
  close(): void {
    this.fail('closed');
  }

  private ensureChild(): ChildProcessWithoutNullStreams | undefined {
    if (this.disabledReason !== undefined) return undefined;
    if (this.child) return this.child;
    this.starts++;
    this.answeredSinceStart = false;
    this.buffered = '';
    this.loaded = new Set();
    let child: ChildProcessWithoutNullStreams;
    try {
      // Its own small environment: nothing of the agent's (OTLP headers, tokens) reaches it.
      child = spawn(this.path, [...LLVM_ARGS], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
    } catch (err) {
      this.disable(`cannot run ${this.path}: ${(err as Error).message}`);
      return undefined;
    }
    this.child = child;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.onData(child, chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim() !== '') this.log.debug(`llvm-symbolizer: ${line.trim()}`);
    });
    child.stdin.on('error', () => {}); // EPIPE when it died: reported through 'exit'/'error'.
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') this.disable(`cannot run ${this.path}: ${err.code}`);
      this.onGone(child, `${err.message}`);
    });
    child.on('exit', (code, signal) => this.onGone(child, `exited (${signal ?? `code ${code}`})`));
    // A helper must never keep the agent alive.
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return child;
  }

  private onData(child: ChildProcessWithoutNullStreams, chunk: string): void {
    if (child !== this.child) return;
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line === '') continue;
      const p = this.pending;
      if (!p) return this.fail('answer without a request');
      let answer: LlvmAnswer | null;
      try {
        answer = JSON.parse(line) as LlvmAnswer | null;
      } catch {
        answer = null;
      }
      if (typeof answer !== 'object' || answer === null) return this.fail(`unparsable answer: ${line.slice(0, 120)}`);
      const req = p.requests[p.answers.length]!;
      // Each answer names what it answers: a mismatch means we are out of step, so start over.
      if (answer.ModuleName !== req.module || !sameAddress(answer.Address, req.address)) {
        return this.fail(`answer for ${answer.ModuleName} ${answer.Address}, expected ${req.module} 0x${req.address.toString(16)}`);
      }
      p.answers.push(answer);
      this.loaded.add(req.module);
      this.answeredSinceStart = true;
      this.failedStarts = 0;
      if (p.answers.length === p.requests.length) {
        clearTimeout(p.timer);
        this.pending = undefined;
        p.resolve(p.answers);
      }
    }
  }

  private onGone(child: ChildProcessWithoutNullStreams, why: string): void {
    if (child !== this.child) return;
    if (!this.answeredSinceStart && ++this.failedStarts >= MAX_FAILED_STARTS) {
      this.disable(`${this.path} ${why} before answering, ${MAX_FAILED_STARTS} times`);
    }
    this.fail(why);
  }

  private disable(reason: string): void {
    if (this.disabledReason !== undefined) return;
    this.disabledReason = reason;
    this.log.warn(`symbolizer: llvm-symbolizer unusable (${reason}); using ELF symbol tables only (function names, no file:line)`);
  }

  /** Kills the helper (if any) and resolves the batch in flight as failed (or as `result`). */
  private fail(why: string, result: undefined | 'overran' = undefined): void {
    const child = this.child;
    const p = this.pending;
    this.child = undefined;
    this.pending = undefined;
    this.buffered = '';
    if (child && child.exitCode === null && child.signalCode === null) {
      if (why !== 'closed') this.log.warn(`symbolizer: llvm-symbolizer ${why}; restarting it`);
      child.kill('SIGKILL');
    } else if (p) this.log.debug(`symbolizer: llvm-symbolizer ${why}`);
    if (p) {
      clearTimeout(p.timer);
      p.resolve(result);
    }
  }
}
