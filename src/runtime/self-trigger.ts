// Sampling without a per-context-switch cost: a uprobe on a library function that only we
// call, attached for our own pid, runs a probe's sampling program in our task's context
// exactly when we ask (once per interval). Other processes never hit it, and the host's
// context switches carry no program at all.
import { readFileSync } from 'node:fs';
import { native } from '../libbpf/ffi.ts';

/** libbpf_major_version(): a libbpf function mem-watcher never calls for anything else. */
export const SELF_TRIGGER_FUNCTION = 'libbpf_major_version';

/** The libbpf shared object as this process maps it (the uprobe goes on that file). */
export function selfTriggerBinary(): string {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const path = line.split(/\s+/)[5];
    if (path && /\/libbpf\.so[.\d]*$/.test(path)) return path;
  }
  throw new Error('libbpf is not mapped into this process: cannot place the self-trigger uprobe');
}

/** Runs every program attached to the self-trigger, synchronously, in this task. */
export function fireSelfTrigger(): void {
  native.libbpf_major_version();
}
