// Which object each allocator function of a process is attached in: the one the dynamic linker
// binds the program's calls to. That is the first object, in its search order (the executable,
// LD_PRELOAD objects, then the needed libraries breadth first), that defines the function:
// Debian's redis-server needs libjemalloc.so.2 before libc.so.6, so its malloc is jemalloc's;
// a static program's malloc is its own. --memleak-lib overrides the C allocator's object.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { isFileMapping, parseMaps, type Mapping } from '../../host/maps.ts';
import { hostFile, mappedFile, openAttachFile, type AttachFile } from '../../host/attach-file.ts';
import { readElfObject, type ElfObject } from './elf-exports.ts';
import { readLinkMap } from './link-map.ts';
import { prefixed, USER_HOOKS, type UserHook } from './hook-table.ts';

/** One function to hook and the object it goes in. */
export interface Placement {
  hook: UserHook;
  /** Name in the object (with the prefix where one applies). */
  func: string;
  file: AttachFile;
  /** Other hooked names at the same address (tcmalloc's tc_malloc for malloc): not hooked twice. */
  aliases: string[];
}

export interface AllocatorPlan {
  placements: Placement[];
  /** C allocator functions (optional ones) that no object defines, with why. */
  missing: Array<{ func: string; reason: string }>;
  /** The program's own file, when it is a known object (its frames are not the allocator's). */
  executable?: string;
  /** How the search order was found, for -v: link_map, DT_NEEDED, static, ld.so --list. */
  order: string;
}

export interface LoadedObject {
  file: AttachFile;
  /** The program itself (a static program's allocator is in its .symtab). */
  executable: boolean;
}

// glibc's libc.so.6 (libc-2.31.so on older distributions); musl's libc is its dynamic linker.
const LIBC = /^(libc\.so(\.\d+)*|libc-[\d.]+\.so|ld-musl-[^/]*\.so(\.\d+)*|libc\.musl-[^/]*\.so(\.\d+)*)$/;

function fileMappings(pid: number): Mapping[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch (err) {
    throw new Error(`cannot read /proc/${pid}/maps: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such process' : (err as Error).message}`);
  }
  // Deleted ones too: a library upgraded on disk is still the code the process runs
  // (attach-file.ts reaches it through /proc/PID/map_files).
  return parseMaps(text).filter(isFileMapping);
}

function executablePath(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined; // kernel thread or gone
  }
}

/** The executable mapping of the file `m` maps (any mapping of it would do; this one is code). */
function codeMapping(all: Mapping[], m: Mapping): Mapping {
  return all.find((x) => x.inode === m.inode && x.devMajor === m.devMajor && x.devMinor === m.devMinor && x.perms.includes('x')) ?? m;
}

/**
 * The objects of process `pid` in the dynamic linker's search order, as the process maps them.
 * From its link map when it has one; a static program is its only object; otherwise (the link
 * map unreadable) rebuilt: the executable, LD_PRELOAD, then DT_NEEDED breadth first, by name
 * among what it maps.
 */
export function processObjects(pid: number, opts: { linkMap?: boolean } = {}): { objects: LoadedObject[]; order: string } {
  const all = fileMappings(pid);
  const exePath = executablePath(pid);
  const exeMap = exePath === undefined ? undefined : all.find((m) => m.path === exePath);
  const objects: LoadedObject[] = [];
  const seen = new Set<string>();
  const add = (m: Mapping | undefined, executable = false) => {
    if (!m) return;
    const key = `${m.devMajor}:${m.devMinor}:${m.inode}`;
    if (seen.has(key)) return;
    seen.add(key);
    objects.push({ file: mappedFile(pid, codeMapping(all, m)), executable });
  };
  add(exeMap, true);

  let links: ReturnType<typeof readLinkMap>;
  let linkError = '';
  try {
    // (linkMap false: the fallback alone, for tests)
    links = opts.linkMap === false ? undefined : readLinkMap(pid);
  } catch (err) {
    linkError = (err as Error).message;
  }
  if (links) {
    for (const l of links.slice(1)) {
      // A library's first byte is at its l_addr; its l_name is the path it was opened by.
      add(all.find((m) => m.offset === 0n && m.start === l.base) ?? all.find((m) => m.path === l.name));
    }
    return { objects, order: 'link_map' };
  }
  if (!exeMap) throw new Error(`process ${pid} has no executable mapped to attach to`);
  // A needed name is a soname (libstdc++.so.6); the file mapped is often its link's target
  // (libstdc++.so.6.0.30).
  const byName = (name: string) => all.find((m) => m.path === name)
    ?? all.find((m) => basename(m.path) === basename(name))
    ?? all.find((m) => basename(m.path).startsWith(`${basename(name)}.`));
  let exe: ElfObject;
  try {
    exe = readOpened(objects[0]!.file, (path) => readElfObject(path, new Set()));
  } catch {
    return { objects, order: 'executable only' };
  }
  if (exe.interp === undefined) return { objects, order: 'static' };
  for (const p of preloads(pid)) add(byName(p));
  const queue = [...exe.needed];
  for (let i = 0; i < queue.length && i < 4096; i++) {
    const m = byName(queue[i]!);
    if (!m || seen.has(`${m.devMajor}:${m.devMinor}:${m.inode}`)) continue;
    add(m);
    try {
      queue.push(...readOpened(objects.at(-1)!.file, (path) => readElfObject(path, new Set())).needed);
    } catch { /* unreadable: its own needs stay unknown */ }
  }
  return { objects, order: `DT_NEEDED${linkError ? ` (link map unreadable: ${linkError})` : ''}` };
}

function preloads(pid: number): string[] {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    const v = env.find((e) => e.startsWith('LD_PRELOAD='))?.slice('LD_PRELOAD='.length) ?? '';
    return v.split(/[ :]/).filter(Boolean);
  } catch {
    return [];
  }
}

/** The objects a program will load, as host files: static, or as its dynamic linker lists them. */
export function programObjects(program: string, env: NodeJS.ProcessEnv): { objects: LoadedObject[]; order: string } {
  const exe = readElfObject(program, new Set());
  const objects: LoadedObject[] = [{ file: hostFile(realpathSync(program)), executable: true }];
  if (exe.interp === undefined) return { objects, order: 'static' };
  // The dynamic linker's own answer (ldd's): it applies LD_PRELOAD, LD_LIBRARY_PATH, RUNPATH
  // and its cache exactly as it will at exec, and runs none of the program's code.
  let listing: string;
  try {
    listing = execFileSync(exe.interp, ['--list', program], { env, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // A library not found: what was found is listed still (the program will fail to start and
    // its dynamic linker will say why); a dynamic linker that has no --list: the program alone.
    listing = String((err as { stdout?: unknown }).stdout ?? '');
  }
  const seen = new Set(objects.map((o) => o.file.path));
  for (const line of listing.split('\n')) {
    const m = /^\s*(?:\S+ => )?(\/\S*) \(0x[0-9a-f]+\)$/.exec(line);
    if (!m || !existsSync(m[1]!)) continue;
    const path = realpathSync(m[1]!);
    if (seen.has(path)) continue;
    seen.add(path);
    objects.push({ file: hostFile(path), executable: false });
  }
  return { objects, order: 'ld.so --list' };
}

/** Reads the very file the process maps (the opened, checked descriptor), then closes it. */
function readOpened<T>(f: AttachFile, read: (path: string) => T): T {
  if (f.pid === undefined) return read(f.path);
  const opened = openAttachFile(f);
  try {
    return read(opened.binary);
  } finally {
    opened.close();
  }
}

/** What each object defines among the hooks' names (a static program: from its .symtab too). */
function definitions(objects: readonly LoadedObject[], names: ReadonlySet<string>): Array<Map<string, bigint>> {
  return objects.map((o) => {
    try {
      return readOpened(o.file, (path) => {
        const elf = readElfObject(path, names);
        return o.executable && elf.interp === undefined ? readElfObject(path, names, true).defines : elf.defines;
      });
    } catch {
      return new Map<string, bigint>(); // unreadable: it defines nothing we can attach to
    }
  });
}

/**
 * The plan: each hook in the first object defining it (`lib`: the C and jemalloc functions in
 * that object, with `prefix`). Aliases (two hooked names at one address of one object) get one
 * hook. Throws when nothing defines malloc or free.
 */
export function planHooks(objects: readonly LoadedObject[], order: string, lib?: AttachFile, prefix = ''): AllocatorPlan {
  const name = (h: UserHook) => (prefixed(h) ? prefix + h.func : h.func);
  const names = new Set(USER_HOOKS.map(name));
  const defs = definitions(objects, names);
  const libDefs = lib ? definitions([{ file: lib, executable: false }], names)[0]! : undefined;
  const plan: AllocatorPlan = { placements: [], missing: [], order };
  const exe = objects.find((o) => o.executable);
  if (exe) plan.executable = exe.file.path;
  const taken = new Map<string, Placement>();
  const place = (h: UserHook, func: string, file: AttachFile, at: bigint) => {
    const key = `${file.path}@${at}`;
    const first = taken.get(key);
    if (first) {
      first.aliases.push(func);
      return;
    }
    const p: Placement = { hook: h, func, file, aliases: [] };
    taken.set(key, p);
    plan.placements.push(p);
  };
  for (const h of USER_HOOKS) {
    const func = name(h);
    if (lib && libDefs && prefixed(h)) {
      const at = libDefs.get(func);
      if (at !== undefined) place(h, func, lib, at);
      else if (h.family === 'c') plan.missing.push({ func, reason: `${lib.path} does not define it` });
      continue;
    }
    const i = defs.findIndex((d) => d.has(func));
    if (i >= 0) place(h, func, objects[i]!.file, defs[i]!.get(func)!);
    else if (h.family === 'c' || h.family === 'mmap') plan.missing.push({ func, reason: 'no object of the process defines it' });
    if (h.family === 'mmap') {
      const libc = objects.findIndex((o) => LIBC.test(basename(o.file.path)));
      if (libc >= 0 && libc !== i && defs[libc]!.has(func)) place(h, func, objects[libc]!.file, defs[libc]!.get(func)!);
    }
  }
  for (const h of USER_HOOKS.filter((x) => x.required)) {
    if (plan.placements.some((p) => p.hook === h)) continue;
    if (lib) throw new NoAllocatorError(`${lib.path} defines no ${name(h)}`);
    if (order === 'static' && exe) {
      throw new NoAllocatorError(`${exe.file.path} is statically linked and its symbol table has no ${name(h)} (it has no allocator of its own, or it was stripped)`);
    }
    throw new NoAllocatorError(`none of its ${objects.length} objects defines ${name(h)} (searched in ${order} order)`);
  }
  return plan;
}

/** No object defines malloc or free: nothing to trace in that process. */
export class NoAllocatorError extends Error {}

/**
 * --memleak-lib: a path or a file name among what the process maps (or, for a program not yet
 * started, among the objects it will load): libjemalloc.so.2; else a path on this host.
 */
export function libraryFile(lib: string, where: { pid: number } | { objects: readonly LoadedObject[] }): AttachFile {
  const matches = (path: string) => path === lib || basename(path) === lib || basename(path).startsWith(lib);
  if ('pid' in where) {
    const byMap = fileMappings(where.pid).filter((m) => m.perms.includes('x')).find((m) => matches(m.path));
    if (byMap) return mappedFile(where.pid, byMap);
  } else {
    const byObject = where.objects.find((o) => matches(o.file.path));
    if (byObject) return byObject.file;
  }
  if (lib.startsWith('/') && existsSync(lib)) return hostFile(lib);
  const who = 'pid' in where ? `process ${where.pid} does not map it` : 'the program does not load it';
  throw new Error(`--memleak-lib ${lib}: ${who} and no such file exists here`);
}

/** The plan for a running process. */
export function processPlan(pid: number, lib = '', prefix = ''): AllocatorPlan {
  const { objects, order } = processObjects(pid);
  return planHooks(objects, order, lib === '' ? undefined : libraryFile(lib, { pid }), prefix);
}

/** The plan for `program`, before it starts (--memleak-command). */
export function programPlan(program: string, env: NodeJS.ProcessEnv, lib = '', prefix = ''): AllocatorPlan {
  const { objects, order } = programObjects(program, env);
  return planHooks(objects, order, lib === '' ? undefined : libraryFile(lib, { objects }), prefix);
}

/** Functions by object, in plan order: "malloc, free, ... in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2". */
export function placementsByModule(placements: readonly Placement[]): Array<{ module: string; functions: string[] }> {
  const out: Array<{ module: string; functions: string[] }> = [];
  for (const p of placements) {
    let g = out.find((x) => x.module === p.file.path);
    if (!g) out.push((g = { module: p.file.path, functions: [] }));
    g.functions.push(p.func, ...p.aliases);
  }
  return out;
}
