// Checked map operations on raw bytes; probes decode the bytes with their own layouts.
import { readFileSync } from 'node:fs';
import { BpfError, EINVAL, ENOENT, EOPNOTSUPP } from './errors.ts';

const ENOTSUPP = 524; // the kernel's own errno for a batch operation a map type lacks
import { native, errno, type Ptr } from './ffi.ts';

const BPF_MAP_TYPE_PERCPU_HASH = 5;
const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
const BPF_MAP_TYPE_LRU_PERCPU_HASH = 10;
const PERCPU_TYPES = new Set([BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH]);

let possibleCpus: number | undefined;

/** Number of possible CPUs (what per-CPU map values are sized by), from /sys. */
export function nrPossibleCpus(): number {
  if (possibleCpus === undefined) {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    let n = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - (a ?? 0) + 1;
    }
    possibleCpus = n;
  }
  return possibleCpus;
}

export class BpfMap {
  readonly name: string;
  readonly #ptr: Ptr;

  constructor(ptr: Ptr, name: string) {
    this.#ptr = ptr;
    this.name = name;
  }

  get fd(): number {
    const fd = native.bpf_map__fd(this.#ptr) as number;
    if (fd < 0) throw new BpfError(`fd of map ${this.name} (not loaded)`, -fd);
    return fd;
  }
  get keySize(): number { return native.bpf_map__key_size(this.#ptr) as number; }
  get valueSize(): number { return native.bpf_map__value_size(this.#ptr) as number; }
  get maxEntries(): number { return native.bpf_map__max_entries(this.#ptr) as number; }
  get perCpu(): boolean { return PERCPU_TYPES.has(native.bpf_map__type(this.#ptr) as number); }

  /** Bytes one lookup returns: per-CPU maps return one 8-byte-aligned slot per possible CPU. */
  get valueBytes(): number {
    return this.perCpu ? Math.ceil(this.valueSize / 8) * 8 * nrPossibleCpus() : this.valueSize;
  }

  /** Sets max_entries; only before load. */
  setMaxEntries(n: number): void {
    const ret = native.bpf_map__set_max_entries(this.#ptr, n) as number;
    if (ret < 0) throw new BpfError(`set max_entries of map ${this.name} to ${n}`, -ret);
  }

  lookup(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.valueBytes);
    if (native.bpf_map_lookup_elem(this.fd, key, value) as number < 0) {
      const e = errno();
      if (e === ENOENT) return undefined;
      throw new BpfError(`lookup in map ${this.name}`, e);
    }
    return value;
  }

  update(key: Buffer, value: Buffer, flags = 0): void {
    if (native.bpf_map_update_elem(this.fd, key, value, flags) as number < 0) {
      throw new BpfError(`update of map ${this.name}`, errno());
    }
  }

  /**
   * Updates `count` entries laid out back to back in `keys` and `values`, a batch per syscall
   * where the kernel supports batch update (5.6+), else one by one.
   */
  updateMany(keys: Buffer, values: Buffer, count: number, flags = 0, batch = 4096): void {
    const ks = this.keySize;
    const vs = this.valueBytes;
    if (keys.length < ks * count || values.length < vs * count) throw new RangeError(`updateMany of map ${this.name}: buffers hold fewer than ${count} entries`);
    const opts = { sz: 24, elem_flags: BigInt(flags), flags: 0n };
    let batched = true;
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      const k = keys.subarray(i * ks, (i + n) * ks);
      const v = values.subarray(i * vs, (i + n) * vs);
      if (batched) {
        const done = [n];
        if (native.bpf_map_update_batch(this.fd, k, v, done, opts) as number >= 0) continue;
        const e = errno();
        if ((done[0] ?? 0) > 0 || (e !== EINVAL && e !== ENOTSUPP && e !== EOPNOTSUPP)) throw new BpfError(`batch update of map ${this.name}`, e);
        batched = false;
      }
      for (let j = 0; j < n; j++) this.update(k.subarray(j * ks, (j + 1) * ks), v.subarray(j * vs, (j + 1) * vs), flags);
    }
  }

  /** Deletes a key; false when it was not there. */
  delete(key: Buffer): boolean {
    if (native.bpf_map_delete_elem(this.fd, key) as number < 0) {
      const e = errno();
      if (e === ENOENT) return false;
      throw new BpfError(`delete from map ${this.name}`, e);
    }
    return true;
  }

  /**
   * Deletes `keys` (absent ones are skipped), a batch per syscall where the kernel supports
   * batch delete (5.6+), else one by one.
   */
  deleteMany(keys: readonly Buffer[], batch = 4096): void {
    const ks = this.keySize;
    const opts = { sz: 24, elem_flags: 0n, flags: 0n };
    for (let i = 0; i < keys.length; i += batch) {
      let chunk = keys.slice(i, i + batch);
      while (chunk.length > 0) {
        const count = [chunk.length];
        if (native.bpf_map_delete_batch(this.fd, Buffer.concat(chunk, ks * chunk.length), count, opts) as number >= 0) break;
        const e = errno();
        const done = count[0] ?? 0;
        if (e === ENOENT) {
          chunk = chunk.slice(done + 1); // the kernel stops at a key that is gone: skip it
          continue;
        }
        for (const k of chunk.slice(done)) this.delete(k); // batches unsupported here
        break;
      }
    }
  }

  *keys(): Generator<Buffer> {
    const fd = this.fd;
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      if (native.bpf_map_get_next_key(fd, prev, next) as number < 0) {
        const e = errno();
        if (e === ENOENT) return;
        throw new BpfError(`iterate map ${this.name}`, e);
      }
      yield next;
      prev = next;
    }
  }

  /**
   * Every entry, read in batches of `batch` with one syscall each where the kernel supports
   * batch lookup (5.6+), else key by key. Entries deleted meanwhile are skipped.
   */
  entries(batch = 4096): Array<[Buffer, Buffer]> {
    const out: Array<[Buffer, Buffer]> = [];
    this.forEachEntry((k, v) => out.push([Buffer.from(k), Buffer.from(v)]), batch);
    return out;
  }

  /**
   * Calls `fn` for every entry, as `entries` reads them, without keeping them: a million-entry
   * map is walked in the memory of one batch. `key` and `value` are views into the batch
   * buffers, valid only during the call.
   */
  forEachEntry(fn: (key: Buffer, value: Buffer) => void, batch = 4096): void {
    if (this.#forEachBatched(fn, batch)) return;
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) fn(k, v);
    }
  }

  /** False when batch lookup is not supported for this map type or kernel (nothing was read). */
  #forEachBatched(fn: (key: Buffer, value: Buffer) => void, batch: number): boolean {
    const ks = this.keySize;
    const vs = this.valueBytes;
    const keys = Buffer.alloc(ks * batch);
    const values = Buffer.alloc(vs * batch);
    // in/out batch tokens are opaque to us; hash maps use a u32-sized bucket cursor, but any
    // size >= key size is accepted.
    const tokenSize = Math.max(ks, 8);
    let inBatch: Buffer | null = null;
    const outBatch = Buffer.alloc(tokenSize);
    const opts = { sz: 24, elem_flags: 0n, flags: 0n };
    for (let first = true; ; first = false) {
      const count = [batch];
      const ret = native.bpf_map_lookup_batch(this.fd, inBatch, outBatch, keys, values, count, opts) as number;
      const e = ret < 0 ? errno() : 0;
      if (ret < 0 && e !== ENOENT) {
        if (first) return false;
        throw new BpfError(`batch lookup in map ${this.name}`, e);
      }
      const n = count[0] ?? 0;
      for (let i = 0; i < n; i++) fn(keys.subarray(i * ks, (i + 1) * ks), values.subarray(i * vs, (i + 1) * vs));
      if (e === ENOENT) return true;
      inBatch = Buffer.from(outBatch);
    }
  }
}
