// Runs the CLI with only some capabilities (setpriv from util-linux empties the bounding set,
// so even root keeps nothing but `caps`), to check what mem-watcher says and does without them.
// Root without CAP_DAC_OVERRIDE also cannot read a file mode 000.
import { spawn } from 'node:child_process';
import { BIN } from './cli.ts';
import { scaled } from '../../harness/time-scale.ts';

export async function runWithCaps(args: string[], caps: string[] = [], timeoutMs = 30_000) {
  const bounding = ['-all', ...caps.map((c) => '+' + c)].join(',');
  const child = spawn('setpriv', [`--bounding-set=${bounding}`, BIN, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), scaled(timeoutMs));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
