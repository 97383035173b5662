// A container controls what the paths in its processes' maps resolve to under /proc/PID/root.
// Its libc can become a symlink to a host FIFO or to /etc/shadow: the agent (root) must refuse
// it without opening it (an open releases a FIFO's blocked writer, runs a device's open
// handler). A directory plays the container's root; this process maps the file, so
// /proc/self/root resolves the paths. Both openers are tried: memleak's uprobe file and the
// symbolizer's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMaps, type Mapping } from '../../src/host/maps.ts';
import { mappedFile, openAttachFile } from '../../src/host/attach-file.ts';
import { openMappedFile } from '../../src/symbolize/module.ts';

const dir = mkdtempSync(join(tmpdir(), 'mw-container-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const libc = parseMaps(readFileSync('/proc/self/maps', 'latin1')).find((m) => /\/libc\.so\.6$/.test(m.path))!;
const LIBDIR = '/usr/lib/x86_64-linux-gnu';

/** The mapping as a container would show it: libc's device and inode at a path inside `root`,
 * at a range that has no map_files entry (so the /proc/PID/root path is what is tried). */
function containerMapping(root: string, path = `${LIBDIR}/libc.so.6`): Mapping {
  return { ...libc, start: 0x1000n, end: 0x2000n, path: `${root}${path}` };
}

function fakeRoot(name: string, plant: (libPath: string) => void): string {
  const root = join(dir, name);
  mkdirSync(join(root, LIBDIR), { recursive: true });
  plant(join(root, LIBDIR, 'libc.so.6'));
  return root;
}

/** A writer blocked opening `fifo` until some reader opens it. */
async function blockedWriter(fifo: string) {
  const child = spawn('sh', ['-c', 'exec 3>"$0"; echo released', fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const wchan = () => { try { return readFileSync(`/proc/${child.pid}/wchan`, 'utf8'); } catch { return ''; } };
  while (wchan() !== 'wait_for_partner') await new Promise((r) => setTimeout(r, 10));
  return {
    blocked: () => child.exitCode === null && wchan() === 'wait_for_partner',
    /** Opens the FIFO as a reader: the writer then goes on (proves it was waiting for one). */
    release: async () => { readFileSync(fifo); await exited; return out; },
  };
}

test('a container libc that is a symlink to a host FIFO: refused, the FIFO never opened (its writer stays blocked)', async () => {
  const fifo = join(dir, 'host-fifo');
  execFileSync('mkfifo', [fifo]);
  const root = fakeRoot('fifo-link', (p) => symlinkSync(fifo, p));
  const direct = fakeRoot('fifo-itself', (p) => execFileSync('mkfifo', [p]));
  const writer = await blockedWriter(fifo);
  assert.throws(() => openAttachFile(mappedFile(process.pid, containerMapping(root))), /proc-root: a symbolic link, not followed/);
  const sym = await openMappedFile(process.pid, containerMapping(root));
  assert.ok('error' in sym && /proc-root: a symbolic link/.test(sym.error), JSON.stringify(sym));
  assert.throws(() => openAttachFile(mappedFile(process.pid, containerMapping(direct))), /proc-root: not a regular file/);
  await new Promise((r) => setImmediate(r));
  assert.ok(writer.blocked(), 'no reader ever opened the FIFO');
  assert.equal(await writer.release(), 'released\n');
});

test('a container libc that is a symlink to a host secret, or a look-alike copy (other device/inode): refused', async () => {
  const secret = join(dir, 'shadow');
  writeFileSync(secret, 'root:$6$hash:::\n');
  chmodSync(secret, 0o600);
  const link = fakeRoot('secret-link', (p) => symlinkSync(secret, p));
  const copy = fakeRoot('copy', (p) => writeFileSync(p, readFileSync(libc.path)));
  assert.throws(() => openAttachFile(mappedFile(process.pid, containerMapping(link))), /a symbolic link, not followed/);
  assert.throws(() => openAttachFile(mappedFile(process.pid, containerMapping(copy))), /not the mapped file \(device\/inode differ\)/);
});

test('the real file at its own path is still opened, through the checked descriptor', async () => {
  const opened = openAttachFile(mappedFile(process.pid, containerMapping('', libc.path)));
  try {
    assert.equal(opened.via, 'proc-root');
    assert.match(opened.binary, /^\/proc\/self\/fd\/\d+$/);
    const st = statSync(opened.binary, { bigint: true });
    assert.equal(st.ino, libc.inode);
  } finally {
    opened.close();
  }
  const sym = await openMappedFile(process.pid, containerMapping('', libc.path));
  assert.ok('fh' in sym, 'error' in sym ? sym.error : '');
  assert.equal(sym.via, 'proc-root');
  await sym.fh.close();
});
