// The only module that touches koffi and libbpf.so.1: its path, opaque handle types and the
// libbpf 1.1 functions we call. Everything else goes through the checked wrappers beside it.
import { closeSync, readSync } from 'node:fs';
import koffi from 'koffi';
import { BpfError } from './errors.ts';
import { EnvironmentError } from '../errors.ts';

export const LIBBPF_PATH = process.env.MEMWATCHER_LIBBPF ?? 'libbpf.so.1';

/** Opaque native pointers, as koffi hands them out. */
export type Ptr = unknown;

function loadLibbpf(): koffi.IKoffiLib {
  try {
    return koffi.load(LIBBPF_PATH);
  } catch (err) {
    throw new EnvironmentError(
      `cannot load ${LIBBPF_PATH} (${(err as Error).message.split('\n')[0]}): install Debian's libbpf1 (apt-get install libbpf1) or set MEMWATCHER_LIBBPF to its path`,
    );
  }
}

koffi.opaque('bpf_object');
koffi.opaque('bpf_program');
koffi.opaque('bpf_map');
koffi.opaque('bpf_link');
koffi.opaque('btf');
koffi.opaque('ring_buffer');

export const UprobeOpts = koffi.struct('bpf_uprobe_opts', {
  sz: 'size_t',
  ref_ctr_offset: 'size_t',
  bpf_cookie: 'uint64_t',
  retprobe: 'bool',
  func_name: 'const char *',
});

export const KprobeOpts = koffi.struct('bpf_kprobe_opts', {
  sz: 'size_t',
  bpf_cookie: 'uint64_t',
  offset: 'size_t',
  retprobe: 'bool',
});

/** bpf_object_open_opts up to btf_custom_path (sz says so: valid for libbpf 0.6 and later). */
export const ObjectOpenOpts = koffi.struct('bpf_object_open_opts', {
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  attach_prog_fd_removed: 'uint32_t',
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
});

export const OBJECT_OPEN_OPTS_SIZE = koffi.sizeof(ObjectOpenOpts);

export const MapBatchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

// libbpf_print_fn_t: (level, fmt, va_list). va_list is a pointer on x86_64 and handed to
// vsnprintf as is.
export const PrintFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, void *args)');
export const SampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

// Bound on first use, not at import: --help, --version and --print-config work on a machine
// without libbpf, and a probe that needs it gets the one-line error above.
function bindNative() {
  const lib = loadLibbpf();
  const libc = koffi.load('libc.so.6');
  return {
    libbpf_set_print: lib.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
    libbpf_major_version: lib.func('uint32_t libbpf_major_version(void)'),
    libbpf_minor_version: lib.func('uint32_t libbpf_minor_version(void)'),
    libbpf_strerror: lib.func('int libbpf_strerror(int err, _Out_ char *buf, size_t size)'),
    libbpf_probe_bpf_prog_type: lib.func('int libbpf_probe_bpf_prog_type(int prog_type, const void *opts)'),

    bpf_object__open_file: lib.func('bpf_object *bpf_object__open_file(const char *path, const bpf_object_open_opts *opts)'),
    bpf_object__load: lib.func('int bpf_object__load(bpf_object *obj)'),
    bpf_object__close: lib.func('void bpf_object__close(bpf_object *obj)'),
    bpf_object__btf: lib.func('btf *bpf_object__btf(bpf_object *obj)'),
    bpf_object__next_program: lib.func('bpf_program *bpf_object__next_program(bpf_object *obj, bpf_program *prev)'),
    bpf_object__next_map: lib.func('bpf_map *bpf_object__next_map(bpf_object *obj, bpf_map *prev)'),
    bpf_object__find_program_by_name: lib.func('bpf_program *bpf_object__find_program_by_name(bpf_object *obj, const char *name)'),
    bpf_object__find_map_by_name: lib.func('bpf_map *bpf_object__find_map_by_name(bpf_object *obj, const char *name)'),

    bpf_program__name: lib.func('const char *bpf_program__name(bpf_program *prog)'),
    bpf_program__section_name: lib.func('const char *bpf_program__section_name(bpf_program *prog)'),
    bpf_program__set_autoload: lib.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
    bpf_program__autoload: lib.func('bool bpf_program__autoload(bpf_program *prog)'),
    bpf_program__set_attach_target: lib.func('int bpf_program__set_attach_target(bpf_program *prog, int fd, const char *name)'),
    bpf_program__fd: lib.func('int bpf_program__fd(bpf_program *prog)'),
    bpf_program__attach: lib.func('bpf_link *bpf_program__attach(bpf_program *prog)'),
    bpf_program__attach_tracepoint: lib.func('bpf_link *bpf_program__attach_tracepoint(bpf_program *prog, const char *category, const char *name)'),
    bpf_program__attach_raw_tracepoint: lib.func('bpf_link *bpf_program__attach_raw_tracepoint(bpf_program *prog, const char *name)'),
    bpf_program__attach_trace: lib.func('bpf_link *bpf_program__attach_trace(bpf_program *prog)'),
    bpf_program__attach_kprobe: lib.func('bpf_link *bpf_program__attach_kprobe(bpf_program *prog, bool retprobe, const char *func)'),
    bpf_program__attach_uprobe_opts: lib.func('bpf_link *bpf_program__attach_uprobe_opts(bpf_program *prog, int pid, const char *binary_path, size_t func_offset, const bpf_uprobe_opts *opts)'),
    bpf_link__destroy: lib.func('int bpf_link__destroy(bpf_link *link)'),
    // BPF iterators (readIterator below): a BPF_TRACE_ITER link, then an fd to read.
    bpf_link_create: lib.func('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)'),
    bpf_iter_create: lib.func('int bpf_iter_create(int link_fd)'),

    bpf_map__fd: lib.func('int bpf_map__fd(bpf_map *map)'),
    bpf_map__name: lib.func('const char *bpf_map__name(bpf_map *map)'),
    bpf_map__key_size: lib.func('uint32_t bpf_map__key_size(bpf_map *map)'),
    bpf_map__value_size: lib.func('uint32_t bpf_map__value_size(bpf_map *map)'),
    bpf_map__max_entries: lib.func('uint32_t bpf_map__max_entries(bpf_map *map)'),
    bpf_map__set_max_entries: lib.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t max_entries)'),
    bpf_map__type: lib.func('int bpf_map__type(bpf_map *map)'),
    bpf_map__initial_value: lib.func('void *bpf_map__initial_value(bpf_map *map, _Out_ size_t *psize)'),

    bpf_map_lookup_elem: lib.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    bpf_map_update_elem: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    bpf_map_delete_elem: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
    bpf_map_get_next_key: lib.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
    bpf_map_lookup_batch: lib.func('int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
    bpf_map_update_batch: lib.func('int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
    bpf_map_delete_batch: lib.func('int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),

    btf__find_by_name_kind: lib.func('int btf__find_by_name_kind(btf *btf, const char *name, uint32_t kind)'),
    btf__type_by_id: lib.func('void *btf__type_by_id(btf *btf, uint32_t id)'),
    btf__name_by_offset: lib.func('const char *btf__name_by_offset(btf *btf, uint32_t offset)'),

    ring_buffer__new: lib.func('ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn *sample_cb, void *ctx, const void *opts)'),
    ring_buffer__add: lib.func('int ring_buffer__add(ring_buffer *rb, int map_fd, ring_buffer_sample_fn *sample_cb, void *ctx)'),
    ring_buffer__poll: lib.func('int ring_buffer__poll(ring_buffer *rb, int timeout_ms)'),
    ring_buffer__consume: lib.func('int ring_buffer__consume(ring_buffer *rb)'),
    ring_buffer__free: lib.func('void ring_buffer__free(ring_buffer *rb)'),
    ring_buffer__epoll_fd: lib.func('int ring_buffer__epoll_fd(ring_buffer *rb)'),

    vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *args)'),
    close: libc.func('int close(int fd)'),
    // The ring buffer's pages, mapped directly (src/libbpf/ringbuf-mmap.ts).
    mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
    munmap: libc.func('int munmap(void *addr, size_t length)'),
    getpagesize: libc.func('int getpagesize(void)'),
  };
}

type Native = ReturnType<typeof bindNative>;
let bound: Native | undefined;

export const native: Native = new Proxy({} as Native, {
  get: (_t, name) => (bound ??= bindNative())[name as keyof Native],
});

export function errno(): number {
  return koffi.errno();
}

/** An ArrayBuffer over native memory; copy out of it before the memory goes away. */
export function view(ptr: Ptr, length: number): ArrayBuffer {
  return koffi.view(ptr as never, length);
}

export function registerCallback(fn: (...args: never[]) => unknown, proto: koffi.IKoffiCType): Ptr {
  return koffi.register(fn as never, koffi.pointer(proto));
}

export function unregisterCallback(cb: Ptr): void {
  koffi.unregister(cb as never);
}

export function address(ptr: Ptr): bigint {
  return koffi.address(ptr as never) as bigint;
}

export function decodeU32(ptr: Ptr, offset: number): number {
  return koffi.decode(ptr as never, offset, 'uint32_t') as number;
}

const BPF_TRACE_ITER = 28;

/** Runs a loaded iterator program (SEC("iter/...")) once; returns all it wrote. */
export function readIterator(progFd: number, what: string): Buffer {
  const link = native.bpf_link_create(progFd, 0, BPF_TRACE_ITER, null) as number;
  if (link < 0) throw new BpfError(`create iterator link for ${what}`, -link);
  try {
    const fd = native.bpf_iter_create(link) as number;
    if (fd < 0) throw new BpfError(`create iterator for ${what}`, -fd);
    try {
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf);
        if (n === 0) return Buffer.concat(chunks);
        chunks.push(Buffer.from(buf.subarray(0, n)));
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    closeSync(link);
  }
}
