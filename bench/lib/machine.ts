// Where the figures came from: they mean little without the machine and its load.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { native } from '../../src/libbpf/ffi.ts';

export interface Machine {
  date: string;
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  virtualization: string;
  node: string;
  libbpf: string;
  /** 1-minute load average when the run started and ended (the host may be shared). */
  loadStart: number;
  loadEnd?: number;
}

export function describeMachine(): Machine {
  const lscpu = safe(() => execFileSync('lscpu', { encoding: 'utf8' }));
  const hypervisor = /^Hypervisor vendor:\s+(.+)$/m.exec(lscpu)?.[1]?.trim();
  const container = safe(() => execFileSync('systemd-detect-virt', ['--container'], { encoding: 'utf8' })).trim();
  const virt = [hypervisor ? `${hypervisor} guest` : 'bare metal', container && container !== 'none' ? `in ${container}` : ''].filter(Boolean).join(' ');
  const model = /^model name\s*:\s*(.+)$/m.exec(safe(() => readFileSync('/proc/cpuinfo', 'utf8')))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return {
    date: new Date().toISOString().slice(0, 10),
    cpu: model.trim(),
    cores: os.availableParallelism(),
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    virtualization: virt,
    node: process.version,
    libbpf: `${native.libbpf_major_version()}.${native.libbpf_minor_version()}`,
    loadStart: os.loadavg()[0]!,
  };
}

function safe(f: () => string): string {
  try {
    return f();
  } catch {
    return '';
  }
}
