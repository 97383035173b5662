// The capabilities this process holds, and what a refusal for lack of one means.
import { readFileSync } from 'node:fs';
import os from 'node:os';

export const CAP = { SYS_PTRACE: 19n, SYS_ADMIN: 21n, PERFMON: 38n, BPF: 39n } as const;

export function effectiveCapabilities(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt('0x' + m[1]) : 0n;
}

export function hasCap(caps: bigint, cap: bigint): boolean {
  return (caps & (1n << cap)) !== 0n;
}

/** Why the kernel refused to create a uprobe, when it is the capability: since Linux 6.16 (and
 * the stable kernels of July 2025 on) the uprobe PMU takes CAP_SYS_ADMIN, CAP_PERFMON no longer
 * suffices. */
export function uprobeRefusalHint(errno: number, caps = effectiveCapabilities()): string | undefined {
  if (errno !== os.constants.errno.EACCES || hasCap(caps, CAP.SYS_ADMIN)) return undefined;
  return 'this kernel lets only CAP_SYS_ADMIN create uprobes (Linux 6.16 and later, and stable kernels since July 2025): add CAP_SYS_ADMIN (docs/deployment.md#privileges)';
}
