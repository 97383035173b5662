// The file a uprobe goes on, opened so that it is provably the one the process maps. A path
// from /proc/PID/maps is the target's view (its mount namespace, maybe attacker-controlled in a
// container), and a library upgraded on disk since the process started (apt upgrade of libc6
// on a long-running host) is mapped "(deleted)": the new file at that path is not the code the
// process runs. So the file is opened and checked once, and libbpf and the kernel are handed
// /proc/self/fd/N: both re-open exactly the inode we checked, with no second path walk.
//   1. /proc/PID/map_files/START-END: the kernel's link to the mapped inode, deleted or not
//      (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE);
//   2. /proc/PID/root/PATH: accepted only when its device and inode are the mapping's.
// Each is resolved without being opened (host/open-checked.ts) and opened only once it is a
// regular file that passed the check: a container's FIFO, device or symlink out to a host file
// is never opened.
import { closeSync, readFileSync, type BigIntStats } from 'node:fs';
import { devMajorMinor, parseMaps, type Mapping } from './maps.ts';
import { openChecked } from './open-checked.ts';

/** Where uprobes attach: a file as the process maps it, or a file on this host. */
export interface AttachFile {
  /** Path inside the process (what /proc/PID/maps shows), or a host path the user named. */
  path: string;
  /** The process whose mapping this is; absent for a host file. */
  pid?: number;
  mapping?: Mapping;
}

export interface OpenedAttachFile {
  /** What libbpf and the kernel open: /proc/self/fd/N. */
  binary: string;
  /** How it was reached, for messages: map_files, proc-root or host. */
  via: string;
  close(): void;
}

export function mappedFile(pid: number, m: Mapping): AttachFile {
  return { path: m.path, pid, mapping: m };
}

export function hostFile(path: string): AttachFile {
  return { path };
}

function sameFile(st: BigIntStats, m: Mapping): boolean {
  const { major, minor } = devMajorMinor(st.dev);
  return major === m.devMajor && minor === m.devMinor && st.ino === m.inode;
}

/** Overlayfs files can show the lower layer's numbers in maps: the range mapped to the same
 * file still is proof enough for the kernel's own link. */
function stillMapped(pid: number, m: Mapping): boolean {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch { /* gone */ }
  return parseMaps(text).some((n) => n.start === m.start && n.end === m.end && n.devMajor === m.devMajor && n.devMinor === m.devMinor && n.inode === m.inode);
}

function candidates(f: AttachFile): Array<{ path: string; via: string }> {
  if (!f.mapping || f.pid === undefined) return [{ path: f.path, via: 'host' }];
  const m = f.mapping;
  const out = [{ path: `/proc/${f.pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`, via: 'map_files' }];
  if (!m.deleted) out.push({ path: `/proc/${f.pid}/root${m.path}`, via: 'proc-root' });
  return out;
}

/** Opens `f` the first way that proves it is the mapped file; throws saying why none did. */
export function openAttachFile(f: AttachFile): OpenedAttachFile {
  const errors: string[] = [];
  for (const c of candidates(f)) {
    try {
      const m = f.mapping;
      // map_files entries are the kernel's links to the mapped file: followed; nothing else is.
      const opened = openChecked(c.path, (st) => {
        if (m && !sameFile(st, m) && !(c.via === 'map_files' && stillMapped(f.pid!, m))) throw new Error('not the mapped file (device/inode differ)');
      }, c.via !== 'proc-root');
      return { binary: `/proc/self/fd/${opened}`, via: c.via, close: () => closeSync(opened) };
    } catch (err) {
      errors.push(`${c.via}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const deleted = f.mapping?.deleted ? ' (deleted on disk since it was mapped: only /proc/PID/map_files reaches it, which needs CAP_SYS_ADMIN)' : '';
  throw new Error(`cannot open ${f.path}${f.pid === undefined ? '' : ` as process ${f.pid} maps it`}${deleted}: ${errors.join(', ')}`);
}
