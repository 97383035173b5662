// Runs the CLI as an unprivileged user, optionally keeping some capabilities (setpriv from
// util-linux), to check what mem-watcher says and does without root.
import { spawn } from 'node:child_process';
import { BIN } from './cli.ts';

export async function runSetpriv(args: string[], opts: { caps?: string[] } = {}, timeoutMs = 30_000) {
  const capArgs = opts.caps?.length
    ? [`--inh-caps=${opts.caps.map((c) => '+' + c).join(',')}`, `--ambient-caps=${opts.caps.map((c) => '+' + c).join(',')}`]
    : [];
  const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...capArgs, BIN, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
