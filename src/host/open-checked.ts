// Opening a path that someone else controls (a container's view under /proc/PID/root) only
// after checking what it is. A plain open() already has effects: a FIFO's blocked writer is
// released, a device's open handler runs, a symlink is followed to any host file. O_PATH
// resolves the path to an inode without opening the file; fstat on that descriptor says what it
// is, and only an accepted file is reopened for reading through /proc/self/fd/N, which
// reaches exactly that inode with no second path walk.
import { closeSync, constants, fstatSync, openSync, type BigIntStats } from 'node:fs';

/** Linux O_PATH (the same on every architecture Node runs on); node:fs does not export it. */
const O_PATH = 0o10000000;
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY; // libuv adds O_CLOEXEC itself

/**
 * Resolves `path` without opening it, lets `check` refuse it by throwing (it sees the target's
 * stat; a final symlink is not followed unless `followLast`, so it shows as a link), then opens
 * it for reading. Returns the read descriptor; the caller closes it.
 */
export function openChecked(path: string, check: (st: BigIntStats) => void, followLast = false): number {
  const pathFd = openSync(path, O_PATH | (followLast ? 0 : constants.O_NOFOLLOW));
  try {
    const st = fstatSync(pathFd, { bigint: true });
    if (!st.isFile()) throw new Error(st.isSymbolicLink() ? 'a symbolic link, not followed' : 'not a regular file');
    check(st);
    const fd = openSync(`/proc/self/fd/${pathFd}`, READ_FLAGS);
    const again = fstatSync(fd, { bigint: true });
    if (again.dev !== st.dev || again.ino !== st.ino) {
      closeSync(fd);
      throw new Error('changed while being opened');
    }
    return fd;
  } finally {
    closeSync(pathFd);
  }
}
