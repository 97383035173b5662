// --memleak-command's program image: the ELF file the kernel runs for a command, through #!
// lines, and a clear refusal for what the kernel cannot exec. Files only, no root.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, programImage } from '../../src/probes/memleak/command.ts';

const dir = mkdtempSync(join(tmpdir(), 'memleak-command-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o755 });
  return path;
}

test('an ELF program is its own image', () => {
  assert.equal(programImage(process.execPath), process.execPath);
});

test('a script: the interpreter its #! line names (arguments after it ignored), through nested scripts', () => {
  assert.equal(programImage(file('a.sh', '#! /bin/sh -e\necho a\n')), '/bin/sh');
  const inner = file('inner', `#!${process.execPath}\n`);
  assert.equal(programImage(file('outer', `#!${inner} --flag\n`)), process.execPath);
});

test('no #! line, or one naming no path: a CommandError naming the file and the fix', () => {
  const plain = file('plain.sh', 'echo hello\n');
  assert.throws(() => programImage(plain), (err: Error) => err instanceof CommandError && err.message.includes(`${plain} is neither an ELF program nor a script starting with #!`) && err.message.includes(`"sh ${plain}"`));
  assert.throws(() => programImage(file('env', '#!python3\n')), CommandError);
  assert.throws(() => programImage(file('empty', '')), CommandError);
});

test('more nested interpreters than the kernel follows: refused', () => {
  let prev = file('s0', `#!${process.execPath}\n`);
  for (let i = 1; i <= 5; i++) prev = file(`s${i}`, `#!${prev}\n`);
  assert.throws(() => programImage(prev), /nested #! interpreters/);
});
