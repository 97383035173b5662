// The user-space hooks: which program goes on which function of which file, and attaching
// them to one process (uprobes by pid on the file it maps).
import type { BpfLink, BpfObject } from '../../libbpf/object.ts';
import type { AllocatorPlan, Placement } from './allocator.ts';
import { openAttachFile, type AttachFile, type OpenedAttachFile } from '../../host/attach-file.ts';

/**
 * Which functions a hook belongs with, and so where it goes:
 * - c: the C allocator (malloc...). Attached in the first object that defines it, in the dynamic
 *   linker's order (or in --memleak-lib, with --memleak-prefix); one nobody defines is reported.
 * - jemalloc: jemalloc's own API; like c (prefixed too), but silently absent elsewhere.
 * - tcmalloc, cxx: tcmalloc's tc_* names and the C++ operators, never prefixed: in the first
 *   object that defines them, silently absent when none does.
 * - mmap: mmap and friends, never prefixed: in the first object that defines them and in the C
 *   library itself (its own calls, such as pthread_create's stacks, do not go through the PLT).
 */
export type HookFamily = 'c' | 'jemalloc' | 'tcmalloc' | 'cxx' | 'mmap';

export interface UserHook {
  /** Function name, without the symbol prefix. */
  func: string;
  enter: string;
  /** Program on the return; absent for the functions that free. */
  exit?: string;
  family: HookFamily;
  /** Without it there is nothing to trace (malloc, free). */
  required?: boolean;
}

const hook = (family: HookFamily, func: string, program: string, frees = false): UserHook =>
  frees ? { func, enter: `${program}_enter`, family } : { func, enter: `${program}_enter`, exit: `${program}_exit`, family };

// Aliases at one address (tcmalloc's malloc, tc_malloc and __libc_malloc) get one hook, the
// first in this order.
export const USER_HOOKS: readonly UserHook[] = [
  { ...hook('c', 'malloc', 'malloc'), required: true },
  { ...hook('c', 'free', 'free', true), required: true },
  hook('c', 'calloc', 'calloc'),
  hook('c', 'realloc', 'realloc'),
  hook('c', 'reallocarray', 'reallocarray'),
  hook('c', 'posix_memalign', 'posix_memalign'),
  hook('c', 'aligned_alloc', 'aligned_alloc'),
  hook('c', 'memalign', 'memalign'),
  hook('c', 'valloc', 'valloc'),
  hook('c', 'pvalloc', 'pvalloc'),
  hook('mmap', 'mmap', 'mmap'),
  hook('mmap', 'mremap', 'mremap'),
  hook('mmap', 'munmap', 'munmap', true),
  hook('jemalloc', 'mallocx', 'mallocx'),
  hook('jemalloc', 'rallocx', 'rallocx'),
  hook('jemalloc', 'xallocx', 'xallocx'),
  hook('jemalloc', 'dallocx', 'dallocx', true),
  hook('jemalloc', 'sdallocx', 'dallocx', true),
  ...['_Znwm', '_Znam', '_ZnwmRKSt9nothrow_t', '_ZnamRKSt9nothrow_t', '_ZnwmSt11align_val_t', '_ZnamSt11align_val_t',
    '_ZnwmSt11align_val_tRKSt9nothrow_t', '_ZnamSt11align_val_tRKSt9nothrow_t'].map((f) => hook('cxx', f, 'new')),
  ...['_ZdlPv', '_ZdaPv', '_ZdlPvm', '_ZdaPvm', '_ZdlPvRKSt9nothrow_t', '_ZdaPvRKSt9nothrow_t', '_ZdlPvSt11align_val_t',
    '_ZdaPvSt11align_val_t', '_ZdlPvmSt11align_val_t', '_ZdaPvmSt11align_val_t', '_ZdlPvSt11align_val_tRKSt9nothrow_t',
    '_ZdaPvSt11align_val_tRKSt9nothrow_t'].map((f) => hook('cxx', f, 'delete', true)),
  ...['tc_malloc', 'tc_malloc_skip_new_handler'].map((f) => hook('tcmalloc', f, 'malloc')),
  ...['tc_free', 'tc_cfree', 'tc_free_sized'].map((f) => hook('tcmalloc', f, 'free', true)),
  hook('tcmalloc', 'tc_calloc', 'calloc'),
  hook('tcmalloc', 'tc_realloc', 'realloc'),
  hook('tcmalloc', 'tc_memalign', 'memalign'),
  hook('tcmalloc', 'tc_posix_memalign', 'posix_memalign'),
  hook('tcmalloc', 'tc_valloc', 'valloc'),
  hook('tcmalloc', 'tc_pvalloc', 'pvalloc'),
  ...['tc_new', 'tc_newarray', 'tc_new_nothrow', 'tc_newarray_nothrow', 'tc_new_aligned', 'tc_newarray_aligned',
    'tc_new_aligned_nothrow', 'tc_newarray_aligned_nothrow'].map((f) => hook('tcmalloc', f, 'new')),
  ...['tc_delete', 'tc_deletearray', 'tc_delete_sized', 'tc_deletearray_sized', 'tc_delete_nothrow', 'tc_deletearray_nothrow',
    'tc_delete_aligned', 'tc_deletearray_aligned', 'tc_delete_sized_aligned', 'tc_deletearray_sized_aligned',
    'tc_delete_aligned_nothrow', 'tc_deletearray_aligned_nothrow'].map((f) => hook('tcmalloc', f, 'delete', true)),
];

/** The symbol prefix applies to these families (a prefixed jemalloc: je_malloc, je_mallocx). */
export function prefixed(h: UserHook): boolean {
  return h.family === 'c' || h.family === 'jemalloc';
}

/** Every name the hooks go on, with the prefix where it applies: frames of these are the allocator's. */
export function hookFunctionNames(prefix: string): string[] {
  return USER_HOOKS.map((h) => (prefixed(h) ? prefix + h.func : h.func));
}

export const EXEC_PROGRAM = 'memleak_exec';

export const KERNEL_PROGRAMS = [
  'memleak_kmalloc', 'memleak_kfree', 'memleak_kmem_cache_alloc', 'memleak_kmem_cache_free',
  'memleak_page_alloc', 'memleak_page_free',
] as const;

export function userPrograms(): string[] {
  return [...new Set(USER_HOOKS.flatMap((h) => (h.exit ? [h.enter, h.exit] : [h.enter])))];
}

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
