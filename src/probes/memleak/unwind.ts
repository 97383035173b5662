// memleak's user stacks are walked in the kernel from the CFI of every executable file the
// target maps (bpf/unwind.bpf.h, src/unwind/). This keeps the unwinder's maps in step with the
// targets: each object's table built once (by file identity) and shared, each process's
// executable ranges re-read with its maps (Target.refreshMaps), so a library dlopen()ed after
// attach gets its table within a second; until then its frames end the stack, counted truncated.
import { closeSync, openSync } from 'node:fs';
import type { Logger } from '../../log.ts';
import type { BpfObject } from '../../libbpf/object.ts';
import { isFileMapping, type Mapping, type ProcessMaps } from '../../host/maps.ts';
import { execRange, loadObject, UnwindMaps, UnwindTableFull, type ExecRange, type LoadedObject } from '../../unwind/maps.ts';
import { mappedFile, openAttachFile } from './attach-file.ts';

export class MemleakUnwinder {
  readonly maps: UnwindMaps;
  readonly #log: Logger;
  /** By the mapping's file identity (device and inode): its loaded object, or why it has none. */
  readonly #files = new Map<string, LoadedObject | string>();
  readonly #synced = new Map<number, ProcessMaps>();

  constructor(obj: BpfObject, log: Logger) {
    this.maps = new UnwindMaps(obj);
    this.#log = log;
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

  /** A process gone: its ranges, and the tables of objects no other traced process maps. */
  remove(pid: number): void {
    this.#forget(this.maps.removeProcess(pid));
    this.#synced.delete(pid);
  }

  /** What the report shows of the tables: rows held (16 bytes each), of the configured bound, and objects. */
  usage(): { rows: number; rowsMax: number; objects: number } {
    return { rows: this.maps.rowsUsed, rowsMax: this.maps.rowsMax, objects: this.maps.objects.size };
  }

  /** Evicted objects are built again if a process maps them later. */
  #forget(evicted: bigint[]): void {
    if (evicted.length === 0) return;
    const gone = new Set(evicted);
    for (const [key, v] of this.#files) if (typeof v !== 'string' && gone.has(v.id)) this.#files.delete(key);
    this.#log.debug(`memleak: ${evicted.length} unwind table(s) evicted (no traced process maps them); ${this.maps.rowsUsed} rows held`);
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
      this.#log.debug(`memleak: unwind table of ${m.path}: ${t.rows.length} rows from ${t.source} (${t.stats.fdes} FDEs, ${t.stats.skipped} entries skipped)`);
      return loaded;
    } catch (err) {
      const why = (err as Error).message;
      // A full table is tried again at the next maps re-read: an exit may have made room.
      if (!(err instanceof UnwindTableFull)) this.#files.set(key, why);
      this.#log.info(`memleak: no unwind table for ${m.path} (its frames end stacks, counted truncated): ${why}`);
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
      opened?.close();
    }
  }
}
