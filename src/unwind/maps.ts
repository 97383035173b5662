// The unwinder's BPF maps (bpf/unwind.bpf.h), filled from user space: each object's table once
// (shared by every process that maps it), and per process the executable ranges, as LPM-trie
// prefixes, that lead a pc to its object and load bias.
import { fstatSync } from 'node:fs';
import type { BpfObject } from '../libbpf/object.ts';
import type { BpfMap } from '../libbpf/map.ts';
import { buildObjectTable, type ObjectTable } from './object.ts';
import { offsetToVaddr } from './elf.ts';
import { ROW_SIZE, RowTable } from './table.ts';

/** bpf/unwind.h UNWIND_MAX_ROWS: 64 MiB of rows in all. */
export const UNWIND_MAX_ROWS = 4 << 20;
export const OBJECT_SIZE = 8;
export const RANGE_KEY_SIZE = 16;
export const RANGE_SIZE = 16;
export const UNWIND_STACK_SIZE = 127 * 8 + 8;
/** bpf/unwind.h UNWIND_STACK_TRUNCATED */
export const STACK_TRUNCATED = 1;

/** The map names of bpf/unwind.bpf.h, for objects that include it. */
export const UNWIND_MAPS = ['unwind_rows', 'unwind_objects', 'unwind_ranges', 'user_stacks', 'unwind_walks', 'unwind_blank'] as const;

/** A stable id for the file open on `fd`: its device, inode, size and change time, hashed. */
export function objectId(fd: number): bigint {
  const st = fstatSync(fd, { bigint: true });
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(`${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`)) {
    h = BigInt.asUintN(64, (h ^ BigInt(c)) * 0x100000001b3n);
  }
  return h;
}

/** [start, end) as the fewest aligned power-of-two blocks: (start, bits of the block's prefix). */
export function rangePrefixes(start: bigint, end: bigint): Array<{ start: bigint; prefix: number }> {
  const out: Array<{ start: bigint; prefix: number }> = [];
  let a = start;
  while (a < end && out.length < 256) {
    let k = 0n;
    while (k < 63n && (a & ((1n << (k + 1n)) - 1n)) === 0n && a + (1n << (k + 1n)) <= end) k++;
    out.push({ start: a, prefix: 64 - Number(k) });
    a += 1n << k;
  }
  return out;
}

export function rangeKey(tgid: number, addr: bigint, prefix: number): Buffer {
  const k = Buffer.alloc(RANGE_KEY_SIZE);
  k.writeUInt32LE(32 + prefix, 0);
  k.writeUInt32BE(tgid, 4);
  k.writeBigUInt64BE(addr, 8);
  return k;
}

/** One executable mapping of a process, with the object it maps. */
export interface ExecRange {
  start: bigint;
  end: bigint;
  objectId: bigint;
  /** runtime address - object-relative address */
  bias: bigint;
}

export interface LoadedObject {
  id: bigint;
  /** Its rows are in the kernel's map only (`rows` empty here): a host's worth of tables as JS
   * objects took hundreds of MB. */
  table: ObjectTable;
  first: number;
  rowCount: number;
}

export class UnwindTableFull extends Error {}

export class UnwindMaps {
  readonly #rows: BpfMap;
  readonly #objects: BpfMap;
  readonly #ranges: BpfMap;
  #nextRow = 0;
  /** Spans of unwind_rows freed by evicted objects, by first row, reused first-fit. */
  #free: Array<{ first: number; count: number }> = [];
  #rowsUsed = 0;
  readonly #loaded = new Map<bigint, LoadedObject>();
  /** Per process: range key (start-end) -> the trie keys it was written as. */
  readonly #processRanges = new Map<number, Map<string, Buffer[]>>();
  /** Per process: the objects its ranges lead to (an object none leads to is evicted). */
  readonly #processObjects = new Map<number, Set<bigint>>();

  constructor(obj: BpfObject) {
    this.#rows = obj.map('unwind_rows');
    this.#objects = obj.map('unwind_objects');
    this.#ranges = obj.map('unwind_ranges');
  }

  /** Rows held by loaded objects, of the map's max_entries. */
  get rowsUsed(): number {
    return this.#rowsUsed;
  }

  get rowsMax(): number {
    return this.#rows.maxEntries;
  }

  get objects(): ReadonlyMap<bigint, LoadedObject> {
    return this.#loaded;
  }

  object(id: bigint): LoadedObject | undefined {
    return this.#loaded.get(id);
  }

  /** Loads an object's table (once per id). Throws UnwindTableFull when the rows do not fit. */
  addObject(id: bigint, table: ObjectTable): LoadedObject {
    const known = this.#loaded.get(id);
    if (known) return known;
    const rows = table.rows;
    const first = this.#allocate(rows.length);
    if (first < 0) {
      throw new UnwindTableFull(`unwind tables full: ${rows.length} rows do not fit in the ${this.#rows.maxEntries - this.#rowsUsed} left of ${this.#rows.maxEntries * ROW_SIZE} bytes`);
    }
    if (rows.length > 0) {
      const keys = Buffer.alloc(rows.length * 4);
      for (let i = 0; i < rows.length; i++) keys.writeUInt32LE(first + i, i * 4);
      this.#rows.updateMany(keys, rows.bytes(), rows.length);
    }
    this.#rowsUsed += rows.length;
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(id);
    const value = Buffer.alloc(OBJECT_SIZE);
    value.writeUInt32LE(first, 0);
    value.writeUInt32LE(rows.length, 4);
    this.#objects.update(key, value);
    const loaded = { id, table: { ...table, rows: new RowTable(0) }, first, rowCount: rows.length };
    this.#loaded.set(id, loaded);
    return loaded;
  }

  /** First row of a free span of `count` rows (first fit among freed spans, else the end), or -1. */
  #allocate(count: number): number {
    if (count === 0) return 0;
    const i = this.#free.findIndex((f) => f.count >= count);
    if (i >= 0) {
      const f = this.#free[i]!;
      const first = f.first;
      if (f.count === count) this.#free.splice(i, 1);
      else this.#free[i] = { first: f.first + count, count: f.count - count };
      return first;
    }
    if (this.#nextRow + count > this.#rows.maxEntries) return -1;
    this.#nextRow += count;
    return this.#nextRow - count;
  }

  /** Drops an object no process maps any more: its entry first (no walk reaches its rows), then its rows are free. */
  #evict(id: bigint): void {
    const o = this.#loaded.get(id);
    if (!o) return;
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(id);
    this.#objects.delete(key);
    this.#loaded.delete(id);
    const count = o.rowCount;
    this.#rowsUsed -= count;
    if (count === 0) return;
    this.#free.push({ first: o.first, count });
    this.#free.sort((a, b) => a.first - b.first);
    const merged: Array<{ first: number; count: number }> = [];
    for (const f of this.#free) {
      const last = merged.at(-1);
      if (last && last.first + last.count === f.first) last.count += f.count;
      else merged.push({ ...f });
    }
    const tail = merged.at(-1);
    if (tail && tail.first + tail.count === this.#nextRow) {
      this.#nextRow = tail.first;
      merged.pop();
    }
    this.#free = merged;
  }

  /** Evicts the loaded objects no process's ranges lead to; returns their ids. */
  #evictUnused(): bigint[] {
    const inUse = new Set<bigint>();
    for (const ids of this.#processObjects.values()) for (const id of ids) inUse.add(id);
    const gone = [...this.#loaded.keys()].filter((id) => !inUse.has(id));
    for (const id of gone) this.#evict(id);
    return gone;
  }

  /**
   * Makes `ranges` the executable ranges of process `tgid`: ranges no longer there are deleted
   * first (a library unloaded, its addresses free for another), then new ones added. Objects
   * no process leads to any more are evicted; their ids are returned.
   */
  setRanges(tgid: number, ranges: readonly ExecRange[]): bigint[] {
    let mine = this.#processRanges.get(tgid);
    if (!mine) this.#processRanges.set(tgid, (mine = new Map()));
    const want = new Map(ranges.map((r) => [`${r.start}-${r.end}-${r.objectId}-${r.bias}`, r]));
    for (const [k, keys] of mine) {
      if (want.has(k)) continue;
      for (const key of keys) this.#ranges.delete(key);
      mine.delete(k);
    }
    for (const [k, r] of want) {
      if (mine.has(k)) continue;
      const value = Buffer.alloc(RANGE_SIZE);
      value.writeBigUInt64LE(r.objectId, 0);
      value.writeBigUInt64LE(BigInt.asUintN(64, r.bias), 8);
      const keys = rangePrefixes(r.start, r.end).map((p) => rangeKey(tgid, p.start, p.prefix));
      for (const key of keys) this.#ranges.update(key, value);
      mine.set(k, keys);
    }
    this.#processObjects.set(tgid, new Set(ranges.map((r) => r.objectId)));
    return this.#evictUnused();
  }

  /**
   * Forgets a process's ranges (it exited). Its objects' tables stay while another process maps
   * them; the others are evicted (their ids returned).
   */
  removeProcess(tgid: number): bigint[] {
    const mine = this.#processRanges.get(tgid);
    if (mine) for (const keys of mine.values()) for (const key of keys) this.#ranges.delete(key);
    this.#processRanges.delete(tgid);
    this.#processObjects.delete(tgid);
    return this.#evictUnused();
  }
}

/**
 * The executable range a mapping is, given its object's table: the bias maps the mapping's
 * first byte to the object-relative address of its file offset.
 */
export function execRange(m: { start: bigint; end: bigint; offset: bigint }, loaded: LoadedObject): ExecRange | undefined {
  const vaddr = offsetToVaddr(loaded.table.loads, Number(m.offset));
  if (vaddr === undefined) return undefined;
  return { start: m.start, end: m.end, objectId: loaded.id, bias: m.start - BigInt(vaddr) };
}

/** Builds (or finds) and loads the table of the object open on `fd`. */
export function loadObject(maps: UnwindMaps, fd: number): LoadedObject {
  const id = objectId(fd);
  return maps.object(id) ?? maps.addObject(id, buildObjectTable(fd));
}
