// Reading the kernel's own accounting, to check probes against it.
import { readFileSync } from 'node:fs';

/** /proc/meminfo (or /proc/PID/status) "Key:   123 kB" lines as bytes. */
export function readKbFile(path: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([^:]+):\s+(\d+)\s*kB$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * 1024;
  }
  return out;
}

export function readVmstat(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync('/proc/vmstat', 'utf8').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v) out[k] = Number(v);
  }
  return out;
}
