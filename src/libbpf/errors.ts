import os from 'node:os';

/** A libbpf or bpf(2) failure: which operation, the errno, and what libbpf logged about it. */
export class BpfError extends Error {
  readonly op: string;
  readonly errno: number;
  readonly libbpfLog: string[];

  constructor(op: string, errno: number, libbpfLog: string[] = []) {
    const code = errnoName(errno);
    const detail = libbpfLog.length ? `: ${libbpfLog[libbpfLog.length - 1]}` : '';
    super(`${op} failed (${code}${errno ? ` ${errno}` : ''})${detail}`);
    this.name = 'BpfError';
    this.op = op;
    this.errno = errno;
    this.libbpfLog = libbpfLog;
  }
}

export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(os.constants.errno)) {
    if (value === errno) return name;
  }
  return `errno ${errno}`;
}

export const EPERM = os.constants.errno.EPERM;
export const ENOENT = os.constants.errno.ENOENT;
export const EINVAL = os.constants.errno.EINVAL;
export const E2BIG = os.constants.errno.E2BIG;
export const EOPNOTSUPP = os.constants.errno.EOPNOTSUPP;
