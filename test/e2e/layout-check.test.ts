// A BPF object built from a header its reader does not know: the agent refuses to start, in one
// line naming the struct and the member, instead of misreading every record. The object is
// really built (bpf/ copied, one header edited, the project's Makefile), then run through the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';

const ROOT = join(import.meta.dirname, '../..');
const skip = process.getuid?.() !== 0 ? 'needs root (preflight)' : false;

test('a header changed without its reader: exit 2, one line naming the struct and the member that moved', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-layout-'));
  try {
    cpSync(join(ROOT, 'bpf'), join(dir, 'bpf'), { recursive: true });
    mkdirSync(join(dir, 'out'));
    copyFileSync(join(ROOT, 'build/bpf/vmlinux.h'), join(dir, 'out/vmlinux.h'));
    // Two members of the same size swap places: every size still matches, one offset does not.
    const header = join(dir, 'bpf/oom.h');
    const before = readFileSync(header, 'utf8');
    const after = before.replace(/(\t__u64 rss_file;[^\n]*\n)(\t__u64 rss_anon;[^\n]*\n)/, '$2$1');
    assert.notEqual(after, before, 'bpf/oom.h has rss_file then rss_anon');
    writeFileSync(header, after);
    execFileSync('make', ['-s', '-C', join(dir, 'bpf'), `OUTPUT=${join(dir, 'out')}`, join(dir, 'out/oom.bpf.o')], { stdio: 'pipe' });

    const { code, stderr } = await runCli(['-k', '--duration', '1'], { MEMWATCHER_BPF_DIR: join(dir, 'out') });
    assert.equal(code, 2, stderr);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /oom: struct oom_kill_event: rss_(file|anon) is at offset \d+ in .*oom\.bpf\.o, the reader expects \d+ .*rebuild with npm run build:bpf/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
