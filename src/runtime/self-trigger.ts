// Sampling without a per-context-switch cost: a uprobe on a library function that only we
// call runs a probe's sampling program in our task's context exactly when we ask (once per
// interval), and the host's context switches carry no program at all.
//
// The uprobe is attached for every process, not for our pid: a uprobe for one pid is a
// per-task perf event, and while any per-task perf event exists the kernel runs perf's
// scheduler hooks on every context switch of the host (measured here: about 3% of a
// context-switch storm). The programs themselves return at once unless the caller is us
// (bpf/self_trigger.bpf.h, with selfTriggerRodata() below): another process mapping libbpf
// carries a breakpoint it never reaches, as with any system-wide uprobe.
import { readFileSync, statSync } from 'node:fs';
import { parseMaps } from '../host/maps.ts';
import { native } from '../libbpf/ffi.ts';

/** libbpf_major_version(): a libbpf function mem-watcher never calls for anything else. */
export const SELF_TRIGGER_FUNCTION = 'libbpf_major_version';

/** The libbpf shared object as this process maps it (the uprobe goes on that file). */
export function selfTriggerBinary(): string {
  const lib = parseMaps(readFileSync('/proc/self/maps', 'latin1')).find((m) => /\/libbpf\.so[.\d]*$/.test(m.path));
  if (lib) return lib.path;
  throw new Error('libbpf is not mapped into this process: cannot place the self-trigger uprobe');
}

/** Runs every program attached to the self-trigger, synchronously, in this task. */
export function fireSelfTrigger(): void {
  native.libbpf_major_version();
}

/**
 * The .rodata of bpf/self_trigger.bpf.h: our pid namespace (device and inode of its nsfs file)
 * and our process id in it, so that a program run by the self-trigger can tell our calls from
 * another process's (bpf_get_ns_current_pid_tgid works inside a container too).
 */
export function selfTriggerRodata(): { self_pidns_dev: bigint; self_pidns_ino: bigint; self_tgid: number } {
  const st = statSync('/proc/self/ns/pid', { bigint: true });
  return { self_pidns_dev: kernelDev(st.dev), self_pidns_ino: st.ino, self_tgid: process.pid };
}

/** glibc's st_dev encoding -> the kernel's dev_t (major << 20 | minor), which the helper compares. */
function kernelDev(dev: bigint): bigint {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return (major << 20n) | minor;
}
