// --memleak-command: run a program under trace from its first allocation.
//
// A child process cannot be paused between fork and exec from Node, and a shell is not
// wanted (argv goes to the program as given). So the child starts as a tiny Node helper (this
// very Node binary, `-e`) that blocks reading one byte from a pipe on fd 3. Meanwhile memleak
// attaches its uprobes to the helper's pid on the C library it maps (the same file the program
// will map: the host's libc), and arms the pid in the BPF `targets` map with ARM_EXEC. Then the
// byte is written; the helper closes the pipe and calls process.execve(). The kernel's
// sched_process_exec tracepoint (in the memleak object) flips the pid to TRACE before the new
// image runs its first instruction, so nothing the helper itself allocated is ever recorded and
// nothing the program allocates is missed. Uprobes attached by pid follow the process through
// exec: their filter is the task's mm at the time the probe fires.
//
// The helper asks the kernel to SIGKILL it when the agent dies (PR_SET_PDEATHSIG, kept across
// execve), so a killed agent leaves no program running untraced. No race with an agent that
// dies first: the gate pipe then reads end-of-file and the helper exits without exec'ing.
import { createRequire } from 'node:module';
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { accessSync, closeSync, constants, existsSync, openSync, readSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Writable } from 'node:stream';
import { readElfObject } from './elf-exports.ts';

const KOFFI = createRequire(import.meta.url).resolve('koffi');

const HELPER = `
const fs = require('node:fs');
try {
  const prctl = require(${JSON.stringify(KOFFI)}).load('libc.so.6').func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)');
  prctl(1 /* PR_SET_PDEATHSIG */, 9 /* SIGKILL */, 0, 0, 0);
} catch { /* not glibc: the program outlives a killed agent */ }
const b = Buffer.alloc(1);
let n = 0;
try { n = fs.readSync(3, b, 0, 1, null); } catch { n = 0; }
if (n !== 1) process.exit(125);
fs.closeSync(3);
const [file, ...argv] = process.argv.slice(1);
try { process.execve(file, argv, process.env); } catch (e) { process.stderr.write('mem-watcher: cannot run ' + file + ': ' + e.message + '\\n'); process.exit(127); }
`;

export class CommandError extends Error {}

/** The program argv[0] names: a path, or looked up in PATH like execvp. */
export function resolveProgram(name: string, path = process.env.PATH ?? '/usr/bin:/bin'): string {
  const candidates = name.includes('/') ? [name] : path.split(delimiter).filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return c;
    } catch { /* next */ }
  }
  throw new CommandError(`--memleak-command: ${name} ${name.includes('/') ? 'is not an executable file' : 'not found in PATH'}`);
}

/** binfmt_script's limit on nested interpreters (BINPRM_MAX_RECURSION). */
const MAX_INTERPRETERS = 4;

function head(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(256);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** A dynamic program whose dynamic linker is missing fails exec with ENOENT, naming the program. */
function checkInterpreter(file: string, image: string): void {
  let interp: string | undefined;
  try {
    interp = readElfObject(image, new Set()).interp;
  } catch {
    return; // not an ELF file we read (32-bit...): the kernel decides
  }
  if (interp !== undefined && !existsSync(interp)) {
    throw new CommandError(`--memleak-command: ${image === file ? file : `${file}'s interpreter ${image}`} needs the dynamic linker ${interp}, which does not exist here`);
  }
}

/**
 * The ELF file the kernel runs for `file`: itself, or the interpreter its #! line names (which
 * is where a script's allocator is). Throws a CommandError for a file the kernel cannot exec
 * (a script without #!: execve fails with ENOEXEC; only a shell falls back to running it).
 */
export function programImage(file: string): string {
  let current = file;
  for (let depth = 0; depth <= MAX_INTERPRETERS; depth++) {
    let bytes: Buffer;
    try {
      bytes = head(current);
    } catch (err) {
      throw new CommandError(`--memleak-command: cannot read ${current}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x7f454c46) {
      checkInterpreter(file, current);
      return current;
    }
    if (bytes.subarray(0, 2).toString('latin1') !== '#!') {
      const script = current === file ? file : `${file}'s interpreter ${current}`;
      throw new CommandError(`--memleak-command: ${script} is neither an ELF program nor a script starting with #!, so the kernel cannot run it: add a #! line, or name its interpreter (--memleak-command "sh ${file}")`);
    }
    const line = bytes.toString('latin1', 2).split('\n')[0]!.trim();
    const interpreter = line.split(/[ \t]/)[0] ?? '';
    if (!interpreter.startsWith('/')) throw new CommandError(`--memleak-command: ${current}'s #! line names no interpreter path`);
    current = interpreter;
  }
  throw new CommandError(`--memleak-command: ${file}: more than ${MAX_INTERPRETERS} nested #! interpreters`);
}

export interface HeldCommand {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Lets the helper exec the program (once the probes are in place). */
  release(): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the child has exited. */
  readonly done: boolean;
  /** SIGTERM if still running. */
  terminate(): void;
}

/**
 * The agent's own settings are not the traced program's: MEMWATCHER_* and OTEL_* (endpoints
 * with credentials, headers with tokens, our service name) never reach its environment.
 */
export function commandEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^(OTEL|MEMWATCHER)_/.test(k)));
}

/** A shell's convention for a command's end: its exit code, or 128 + the signal that killed it. */
export function exitStatus(r: { code: number | null; signal: NodeJS.Signals | null }): number {
  if (r.code !== null) return r.code;
  return 128 + (r.signal ? (osConstants.signals[r.signal] ?? 0) : 0);
}

/** Starts `argv` held before exec; the program inherits our stdio and environment (less secrets). */
export function spawnHeld(argv: readonly string[]): HeldCommand {
  if (argv.length === 0 || !argv[0]) throw new CommandError('--memleak-command: empty command');
  const file = resolveProgram(argv[0]);
  const child = spawn(process.execPath, ['-e', HELPER, '--', file, ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    env: commandEnvironment(process.env),
  });
  if (child.pid === undefined) throw new CommandError(`--memleak-command: cannot start ${argv[0]}`);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  const gate = child.stdio[3] as Writable;
  gate.on('error', () => { /* the helper died before release: its exit is reported */ });
  return {
    pid: child.pid,
    child,
    release() {
      gate.end(Buffer.from([1]));
    },
    exited,
    get done() {
      return done;
    },
    terminate() {
      if (!done) child.kill('SIGTERM');
    },
  };
}
