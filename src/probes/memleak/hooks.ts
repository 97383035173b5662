// Attaching the user-space hooks to one process: uprobes by pid on the file it maps, at the
// places the allocator plan chose.
import type { BpfLink, BpfObject } from '../../libbpf/object.ts';
import type { AllocatorPlan, Placement } from './allocator.ts';
import { openAttachFile, type AttachFile, type OpenedAttachFile } from '../../host/attach-file.ts';

export interface AttachResult {
  links: BpfLink[];
  /** What was attached where. */
  attached: Placement[];
  /** Optional functions not traced: defined nowhere, or refused by libbpf/the kernel, with why. */
  skipped: Array<{ func: string; reason: string }>;
}

/**
 * Attaches the plan's hooks to process `pid`. A required hook that fails throws (after
 * detaching what was attached); an optional one is skipped with its entry and exit together,
 * so a function is never half traced.
 */
export function attachUserHooks(obj: BpfObject, pid: number, plan: AllocatorPlan): AttachResult {
  const result: AttachResult = { links: [], attached: [], skipped: [...plan.missing] };
  // Each file opened once and checked (attach-file.ts); the uprobes hold the inode, so the fds can go.
  const opened = new Map<AttachFile, OpenedAttachFile>();
  try {
    for (const p of plan.placements) {
      let file = opened.get(p.file);
      if (!file) opened.set(p.file, (file = openAttachFile(p.file)));
      const pair: BpfLink[] = [];
      try {
        pair.push(obj.program(p.hook.enter).attachUprobe({ binary: file.binary, func: p.func, pid }));
        if (p.hook.exit) pair.push(obj.program(p.hook.exit).attachUprobe({ binary: file.binary, func: p.func, pid, retprobe: true }));
        result.links.push(...pair);
        result.attached.push(p);
      } catch (err) {
        for (const l of pair) l.destroy();
        if (p.hook.required) throw new Error(`cannot trace ${p.func} in ${p.file.path} for process ${pid}: ${(err as Error).message}`);
        result.skipped.push({ func: p.func, reason: (err as Error).message });
      }
    }
  } catch (err) {
    for (const l of result.links) l.destroy();
    throw err;
  } finally {
    for (const f of opened.values()) f.close();
  }
  return result;
}
