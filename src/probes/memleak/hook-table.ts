// The user-space hooks as data: which BPF program goes on which allocator function, and which
// functions belong together (the family decides where a hook is placed).

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
