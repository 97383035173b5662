// The user-space hooks: which program goes on which function of which file, and attaching
// them to one process (uprobes by pid on the file it maps).
import type { BpfLink, BpfObject } from '../../libbpf/object.ts';
import type { AllocatorFiles } from './process.ts';
import { openAttachFile, type OpenedAttachFile } from './attach-file.ts';

export interface UserHook {
  /** Allocator function without the symbol prefix. */
  func: string;
  enter: string;
  /** Program on the return; absent for free and munmap. */
  exit?: string;
  /** allocator: the allocator library, prefixed names; libc: mmap and friends, never prefixed. */
  file: 'allocator' | 'libc';
  /** A library without it still works (it is skipped and reported). */
  optional: boolean;
}

export const USER_HOOKS: readonly UserHook[] = [
  { func: 'malloc', enter: 'malloc_enter', exit: 'malloc_exit', file: 'allocator', optional: false },
  { func: 'free', enter: 'free_enter', file: 'allocator', optional: false },
  { func: 'calloc', enter: 'calloc_enter', exit: 'calloc_exit', file: 'allocator', optional: true },
  { func: 'realloc', enter: 'realloc_enter', exit: 'realloc_exit', file: 'allocator', optional: true },
  { func: 'reallocarray', enter: 'reallocarray_enter', exit: 'reallocarray_exit', file: 'allocator', optional: true },
  { func: 'posix_memalign', enter: 'posix_memalign_enter', exit: 'posix_memalign_exit', file: 'allocator', optional: true },
  { func: 'aligned_alloc', enter: 'aligned_alloc_enter', exit: 'aligned_alloc_exit', file: 'allocator', optional: true },
  { func: 'memalign', enter: 'memalign_enter', exit: 'memalign_exit', file: 'allocator', optional: true },
  { func: 'valloc', enter: 'valloc_enter', exit: 'valloc_exit', file: 'allocator', optional: true },
  { func: 'pvalloc', enter: 'pvalloc_enter', exit: 'pvalloc_exit', file: 'allocator', optional: true },
  { func: 'mmap', enter: 'mmap_enter', exit: 'mmap_exit', file: 'libc', optional: true },
  { func: 'mremap', enter: 'mremap_enter', exit: 'mremap_exit', file: 'libc', optional: true },
  { func: 'munmap', enter: 'munmap_enter', file: 'libc', optional: true },
];

export const EXEC_PROGRAM = 'memleak_exec';

export const KERNEL_PROGRAMS = [
  'memleak_kmalloc', 'memleak_kfree', 'memleak_kmem_cache_alloc', 'memleak_kmem_cache_free',
  'memleak_page_alloc', 'memleak_page_free',
] as const;

export function userPrograms(): string[] {
  return USER_HOOKS.flatMap((h) => (h.exit ? [h.enter, h.exit] : [h.enter]));
}

export interface AttachResult {
  links: BpfLink[];
  /** Functions attached, with the prefix. */
  attached: string[];
  /** Optional functions the file lacks, with libbpf's reason. */
  skipped: Array<{ func: string; reason: string }>;
}

/**
 * Attaches every hook to process `pid`. A required hook that fails throws (after detaching
 * what was attached); an optional one is skipped with its entry and exit together, so a
 * function is never half traced.
 */
export function attachUserHooks(obj: BpfObject, pid: number, files: AllocatorFiles, prefix: string): AttachResult {
  const result: AttachResult = { links: [], attached: [], skipped: [] };
  // Opened once and checked (attach-file.ts); the uprobes hold the inode, so the fds can go.
  const allocator = openAttachFile(files.allocator);
  let libc: OpenedAttachFile | undefined;
  try {
    libc = files.libc === files.allocator ? allocator : openAttachFile(files.libc);
    for (const h of USER_HOOKS) {
      const func = h.file === 'allocator' ? prefix + h.func : h.func;
      const file = h.file === 'allocator' ? files.allocator : files.libc;
      const binary = (h.file === 'allocator' ? allocator : libc).binary;
      const pair: BpfLink[] = [];
      try {
        pair.push(obj.program(h.enter).attachUprobe({ binary, func, pid }));
        if (h.exit) pair.push(obj.program(h.exit).attachUprobe({ binary, func, pid, retprobe: true }));
        result.links.push(...pair);
        result.attached.push(func);
      } catch (err) {
        for (const l of pair) l.destroy();
        if (!h.optional) throw new Error(`cannot trace ${func} in ${file.path} for process ${pid}: ${(err as Error).message}`);
        result.skipped.push({ func, reason: (err as Error).message });
      }
    }
  } catch (err) {
    for (const l of result.links) l.destroy();
    throw err;
  } finally {
    allocator.close();
    if (libc !== allocator) libc?.close();
  }
  return result;
}
