// Keeps the in-kernel unwinder's maps (bpf/unwind.bpf.h) in step with the processes a probe
// walks stacks of: each object's table built once (by file identity) and shared, each
// process's executable ranges re-read with its maps, so a library dlopen()ed later gets its
// table at the next sync; until then its frames end the stack, counted truncated.
import { closeSync, openSync } from 'node:fs';
import type { Logger } from '../log.ts';
import type { BpfObject } from '../libbpf/object.ts';
import { isFileMapping, type Mapping, type ProcessMaps } from '../host/maps.ts';
import { mappedFile, openAttachFile } from '../host/attach-file.ts';
import { execRange, loadObject, UnwindMaps, UnwindTableFull, type ExecRange, type LoadedObject } from './maps.ts';

export class ProcessUnwinder {
  readonly maps: UnwindMaps;
  readonly #log: Logger;
  readonly #probe: string;
  readonly #limitKey: string | undefined;
  /** By the mapping's file identity (device and inode): its loaded object, or why it has none. */
  readonly #files = new Map<string, LoadedObject | string>();
  readonly #synced = new Map<number, ProcessMaps>();

  /** `probe` names the probe in log lines; `limitKey` is the config key that sizes its tables. */
  constructor(obj: BpfObject, log: Logger, probe: string, limitKey?: string) {
    this.maps = new UnwindMaps(obj);
    this.#log = log;
    this.#probe = probe;
    this.#limitKey = limitKey;
  }

  /** Loads the tables of every executable file `maps` shows and makes them the process's ranges. */
  sync(maps: ProcessMaps | undefined): void {
    if (!maps || this.#synced.get(maps.pid) === maps) return;
    const ranges: ExecRange[] = [];
    for (const m of maps.mappings) {
      if (!m.perms.includes('x') || !isFileMapping(m)) continue;
      const loaded = this.#object(maps.pid, m);
      const r = loaded && execRange(m, loaded);
      if (r) ranges.push(r);
    }
    this.#forget(this.maps.setRanges(maps.pid, ranges));
    this.#synced.set(maps.pid, maps);
  }

  /** Whether `pid`'s ranges were synced (from any snapshot of its maps). */
  has(pid: number): boolean {
    return this.#synced.has(pid);
  }

  /** A process gone: its ranges, and the tables of objects no other process of the probe maps. */
  remove(pid: number): void {
    this.#forget(this.maps.removeProcess(pid));
    this.#synced.delete(pid);
  }

  /** What reports show of the tables: rows held (16 bytes each), of the configured bound, and objects. */
  usage(): { rows: number; rowsMax: number; objects: number } {
    return { rows: this.maps.rowsUsed, rowsMax: this.maps.rowsMax, objects: this.maps.objects.size };
  }

  /** Evicted objects are built again if a process maps them later. */
  #forget(evicted: bigint[]): void {
    if (evicted.length === 0) return;
    const gone = new Set(evicted);
    for (const [key, v] of this.#files) if (typeof v !== 'string' && gone.has(v.id)) this.#files.delete(key);
    this.#log.debug(`${this.#probe}: ${evicted.length} unwind table(s) evicted (no process maps them); ${this.maps.rowsUsed} rows held`);
  }

  #object(pid: number, m: Mapping): LoadedObject | undefined {
    const key = `${m.devMajor}:${m.devMinor}:${m.inode}`;
    const known = this.#files.get(key);
    if (known !== undefined) return typeof known === 'string' ? undefined : known;
    let opened: ReturnType<typeof openAttachFile> | undefined;
    let fd: number | undefined;
    try {
      // The file proven to be the one mapped (map_files first, device and inode checked).
      opened = openAttachFile(mappedFile(pid, m));
      fd = openSync(opened.binary, 'r');
      const loaded = loadObject(this.maps, fd);
      this.#files.set(key, loaded);
      const t = loaded.table;
      this.#log.debug(`${this.#probe}: unwind table of ${m.path}: ${loaded.rowCount} rows from ${t.source} (${t.stats.fdes} FDEs, ${t.stats.skipped} entries skipped)`);
      return loaded;
    } catch (err) {
      const full = err instanceof UnwindTableFull;
      const why = full && this.#limitKey ? `${(err as Error).message} (${this.#limitKey})` : (err as Error).message;
      // A full table is tried again at the next maps re-read: an exit may have made room.
      if (!full) this.#files.set(key, why);
      this.#log.info(`${this.#probe}: no unwind table for ${m.path} (its frames end stacks, counted truncated): ${why}`);
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
      opened?.close();
    }
  }
}

/** A user_stacks value (struct unwind_stack): its return addresses, innermost first. */
export function decodeUnwindStack(value: Buffer): { ips: bigint[]; truncated: boolean } {
  const depth = 127;
  if (value.length < depth * 8 + 8) throw new Error(`user stack of ${value.length} bytes, expected ${depth * 8 + 8}`);
  const n = Math.min(value.readUInt32LE(depth * 8), depth);
  const ips: bigint[] = [];
  for (let i = 0; i < n; i++) ips.push(value.readBigUInt64LE(i * 8));
  return { ips, truncated: (value.readUInt32LE(depth * 8 + 4) & 1) !== 0 };
}
