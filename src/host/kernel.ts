// What the running kernel offers, read once at start-up.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

export interface KernelInfo {
  release: string;
  /** [major, minor] of the running kernel. */
  version: [number, number];
  btf: boolean;
  /** kprobes compiled in (the tracefs kprobe interface exists). */
  kprobes: boolean;
  numaNodes: number[];
  pageSize: number;
  tracefs: string | undefined;
}

export function readKernelInfo(): KernelInfo {
  const release = os.release();
  const m = /^(\d+)\.(\d+)/.exec(release);
  const tracefs = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].find((d) => existsSync(`${d}/events`));
  return {
    release,
    version: m ? [Number(m[1]), Number(m[2])] : [0, 0],
    btf: existsSync('/sys/kernel/btf/vmlinux'),
    kprobes: tracefs ? existsSync(`${tracefs}/kprobe_events`) : existsSync('/sys/bus/event_source/devices/kprobe'),
    numaNodes: readNumaNodes(),
    pageSize: pageSize(),
    tracefs,
  };
}

export function kernelAtLeast(k: Pick<KernelInfo, 'version'>, major: number, minor: number): boolean {
  return k.version[0] > major || (k.version[0] === major && k.version[1] >= minor);
}

/**
 * bpf/preempt.bpf.h's preempt_guard: programs that walk user stacks hold preemption off, which
 * preemptible kernels with private BPF stacks (6.13+) need; the verifier takes it around global
 * subprogram calls on 6.18 and 7.2 (measured), not on 6.12. 6.13 to 6.17 go unguarded.
 */
export function preemptGuard(k: Pick<KernelInfo, 'version'>): boolean {
  return kernelAtLeast(k, 6, 18);
}

function readNumaNodes(): number[] {
  try {
    const nodes = readdirSync('/sys/devices/system/node')
      .map((d) => /^node(\d+)$/.exec(d)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    return nodes.length ? nodes : [0];
  } catch {
    return [0]; // !CONFIG_NUMA: one node
  }
}

function pageSize(): number {
  // The kernel reports KernelPageSize per mapping; 4 KiB unless a mapping says otherwise.
  try {
    const m = /KernelPageSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch { /* fall through */ }
  return 4096;
}
