// Builds the benchmark's C load generators (bench/c/*.c) into build/bench/, once per change.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'build/bench');

/** Path of the built program bench/c/<name>.c (compiled with gcc -O2 and `flags` when stale). */
export function cProgram(name: string, flags: readonly string[] = []): string {
  const src = join(ROOT, 'bench/c', `${name}.c`);
  const bin = join(OUT, name);
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(OUT, { recursive: true });
    execFileSync('gcc', ['-O2', ...flags, '-Wall', '-Werror', '-o', bin + '.tmp', src, '-lpthread'], { stdio: 'inherit' });
    execFileSync('mv', [bin + '.tmp', bin]);
  }
  return bin;
}
