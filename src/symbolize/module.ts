// Opening the files a process has mapped, safely. The paths come from the target process's
// mount namespace and may be attacker-controlled (a container can put a symlink where its
// library was), so a file is only read when it is provably the mapped one:
//   1. /proc/PID/map_files/START-END: the kernel's own link to the mapped file (deleted or not,
//      in any mount namespace); needs the process alive and CAP_SYS_ADMIN. Its device and inode
//      must be the snapshot's, or (older kernels report overlayfs files in maps by the lower
//      layer's numbers) the process must still map that range to the snapshot's file: a reused
//      pid or an exec since the snapshot is refused.
//   2. /proc/PID/root/PATH, then PATH on the host (the latter is what still works after the
//      process exited): accepted only when the opened file's device and inode are the ones
//      /proc/PID/maps reported, so a symlink to one of our files, a FIFO or a device is refused.
// The module is kept open and llvm-symbolizer reads it through /proc/<our pid>/fd/N, so what it
// parses is exactly the file we checked, with no second path walk.
import { closeSync, constants, readFileSync, type BigIntStats } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { readElfInfo, readFunctionSymbols, type ElfInfo, type SymbolTable } from './elf.ts';
import { devMajorMinor, parseMaps, type Mapping } from '../host/maps.ts';
import { openChecked } from '../host/open-checked.ts';

export interface OpenModule {
  fh: FileHandle;
  /** Path llvm-symbolizer opens. */
  fdPath: string;
  /** Cache key: build-id, else dev:inode:mtime of the opened file. */
  key: string;
  elf: ElfInfo;
  /** Which way it was opened (for -v). */
  via: string;
  /** Parsed on first use. */
  symbols?: Promise<SymbolTable | undefined>;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY; // libuv adds O_CLOEXEC itself

function sameFile(st: BigIntStats, m: Mapping): boolean {
  const { major, minor } = devMajorMinor(st.dev);
  return major === m.devMajor && minor === m.devMinor && st.ino === m.inode;
}

/** The ways to reach a mapping's file, best first. */
export function candidatePaths(pid: number, m: Mapping): Array<{ path: string; via: 'map_files' | 'proc-root' | 'host-path' }> {
  const out: ReturnType<typeof candidatePaths> = [{ path: `/proc/${pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`, via: 'map_files' }];
  if (!m.deleted && m.path.startsWith('/')) {
    out.push({ path: `/proc/${pid}/root${m.path}`, via: 'proc-root' });
    out.push({ path: m.path, via: 'host-path' });
  }
  return out;
}

/** The process maps the snapshot's range to the snapshot's file still (read after opening). */
function stillMappedSync(pid: number, m: Mapping): boolean {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch { /* gone */ }
  const now = parseMaps(text);
  return now.some((n) => n.start === m.start && n.end === m.end && n.devMajor === m.devMajor && n.devMinor === m.devMinor && n.inode === m.inode);
}

/** Opens the file behind `m` the first way that works, or says why none did. */
export async function openMappedFile(pid: number, m: Mapping): Promise<{ fh: FileHandle; via: string; key: string; elf: ElfInfo } | { error: string }> {
  const errors: string[] = [];
  for (const c of candidatePaths(pid, m)) {
    let fh: FileHandle | undefined;
    try {
      // Resolved without opening, opened only once it is the mapped regular file (a FIFO or a
      // device is never opened: that can block or have side effects); map_files links followed.
      const fd = openChecked(c.path, (st) => {
        if (!sameFile(st, m) && !(c.via === 'map_files' && stillMappedSync(pid, m))) throw new Error('not the mapped file (device/inode differ)');
      }, c.via === 'map_files');
      fh = await open(`/proc/self/fd/${fd}`, OPEN_FLAGS).finally(() => closeSync(fd));
      const st = await fh.stat({ bigint: true });
      const elf = await readElfInfo(fh);
      const key = elf.buildId ?? `${st.dev}:${st.ino}:${st.mtimeNs}`;
      return { fh, via: c.via, key, elf };
    } catch (err) {
      await fh?.close().catch(() => {});
      errors.push(`${c.via}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { error: errors.join(', ') };
}

/** Where Debian's -dbgsym / -dbg packages put a module's separate debug file. */
export function debugFilePath(buildId: string, root = '/usr/lib/debug'): string | undefined {
  return /^[0-9a-f]{4,}$/.test(buildId) ? `${root}/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug` : undefined;
}

/**
 * The module's function symbols, parsed on first use; a module stripped to .dynsym gets the
 * .symtab of its separate debug file (found by build-id), when installed.
 */
export function moduleSymbols(mod: OpenModule): Promise<SymbolTable | undefined> {
  mod.symbols ??= (async () => {
    const debugPath = mod.elf.buildId === undefined ? undefined : debugFilePath(mod.elf.buildId);
    let debug: FileHandle | undefined;
    try {
      if (debugPath !== undefined && (await stat(debugPath)).isFile()) debug = await open(debugPath, OPEN_FLAGS);
    } catch {
      debug = undefined;
    }
    try {
      return await readFunctionSymbols(debug ? [mod.fh, debug] : [mod.fh]);
    } catch {
      return undefined;
    } finally {
      await debug?.close().catch(() => {});
    }
  })();
  return mod.symbols;
}
