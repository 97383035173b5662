// Memory cgroups for the kernel tests, as this machine has them: v1's memory hierarchy (this
// host, the hybrid guests), else cgroup2 with the memory controller (6.12's guest, which has no
// v1 memcg).
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { readCgroupMounts } from '../../src/probes/oom/cgroup.ts';

export const MOUNTS = readCgroupMounts();
export const MEM = MOUNTS.memoryV1 ? { root: MOUNTS.memoryV1, version: 1 as const } : MOUNTS.unified && MOUNTS.unifiedHasMemory ? { root: MOUNTS.unified, version: 2 as const } : undefined;

/** A memory cgroup at `name` (nested names create their parents), limited to `limit` bytes. */
export function memcg(name: string, limit: number): { dir: string; rel: string; remove(): void } {
  const { root, version } = MEM!;
  const created: string[] = [];
  let at = root;
  for (const part of name.split('/')) {
    // cgroup2: a child's memory.max needs the memory controller enabled in its parent
    if (version === 2 && !readFileSync(`${at}/cgroup.subtree_control`, 'utf8').split(/\s+/).includes('memory')) writeFileSync(`${at}/cgroup.subtree_control`, '+memory');
    at = `${at}/${part}`;
    mkdirSync(at);
    created.unshift(at);
  }
  const dir = at;
  writeFileSync(`${dir}/${version === 1 ? 'memory.limit_in_bytes' : 'memory.max'}`, String(limit));
  return {
    dir,
    rel: `/${name}`,
    remove() {
      for (const d of created) {
        for (let i = 0; i < 50; i++) {
          try {
            rmdirSync(d);
            break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); // a dying process still charged
          }
        }
      }
    },
  };
}

