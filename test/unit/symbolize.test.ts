// The symbolizer against real processes: a PIE executable and a shared library built here with
// gcc from test/fixtures/symbolize, run, and symbolized through their /proc/PID/maps. The
// fixture prints addresses whose function, file and line are known from its source; nm gives
// the symbols' addresses independently of our ELF reader.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createLogger } from '../../src/log.ts';
import { Symbolizer, type SymbolizerOptions } from '../../src/symbolize/symbolizer.ts';
import { findLlvmSymbolizer } from '../../src/symbolize/llvm.ts';
import { findMapping, parseMaps, readProcessMaps, type ProcessMaps } from '../../src/host/maps.ts';
import { formatFrameConsole, formatFrameStacktrace, type Frame } from '../../src/symbolize/frame.ts';
import { fileOffsetToVaddr, type ElfInfo } from '../../src/symbolize/elf.ts';

const SRC = new URL('../fixtures/symbolize/', import.meta.url).pathname;
const CFLAGS = ['-g', '-O0', '-fno-omit-frame-pointer'];

interface Built {
  dir: string;
  exe: string;
  lib: string;
}

function build(dir: string): Built {
  const lib = join(dir, 'libsymfix.so');
  const exe = join(dir, 'symfix');
  execFileSync('gcc', [...CFLAGS, '-shared', '-fPIC', '-o', lib, join(SRC, 'symfix_lib.c')]);
  execFileSync('gcc', [...CFLAGS, '-o', exe, join(SRC, 'symfix_main.c'), `-L${dir}`, '-lsymfix', "-Wl,-rpath,$ORIGIN"]);
  return { dir, exe, lib };
}

function strippedCopy(b: Built, dir: string): Built {
  mkdirSync(dir);
  const out = { dir, exe: join(dir, 'symfix'), lib: join(dir, 'libsymfix.so') };
  execFileSync('strip', ['-o', out.exe, b.exe]);
  execFileSync('strip', ['-o', out.lib, b.lib]);
  return out;
}

interface Running {
  child: ChildProcess;
  pid: number;
  fn: Map<string, bigint>;
  ret: Map<string, { address: bigint; line: number }>;
  inl: { address: bigint; line: number; callLine: number };
  tail: { address: bigint; line: number };
}

async function run(exe: string): Promise<Running> {
  const child = spawn(exe, [], { stdio: ['ignore', 'pipe', 'inherit'] });
  const text = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${exe} did not get ready: ${out}`)), 5000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.on('error', reject);
  });
  const r: Partial<Running> & { fn: Running['fn']; ret: Running['ret'] } = { child, pid: child.pid!, fn: new Map(), ret: new Map() };
  for (const line of text.split('\n')) {
    const w = line.split(' ');
    if (w[0] === 'fn') r.fn.set(w[1]!, BigInt(w[2]!));
    if (w[0] === 'ret') r.ret.set(w[1]!, { address: BigInt(w[2]!), line: Number(w[3]) });
    if (w[0] === 'inl') r.inl = { address: BigInt(w[1]!), line: Number(w[2]), callLine: Number(w[3]) };
    if (w[0] === 'tail') r.tail = { address: BigInt(w[1]!), line: Number(w[2]) };
  }
  return r as Running;
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const exited = new Promise((resolve) => r.child.once('exit', resolve));
  r.child.kill('SIGKILL');
  await exited;
}

/** Defined symbols by nm: binutils' view, independent of src/symbolize/elf.ts. */
function nm(file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of execFileSync('nm', ['--defined-only', file], { encoding: 'utf8' }).split('\n')) {
    const [addr, , name] = line.split(' ');
    if (addr && name) out.set(name, BigInt('0x' + addr));
  }
  return out;
}

/** Line of the `@name` marker in a fixture source: where the function is defined. */
function markerLine(file: string, name: string): number {
  const i = readFileSync(join(SRC, file), 'utf8').split('\n').findIndex((l) => l.includes(`/* @${name} */`));
  assert.ok(i >= 0, `marker @${name} in ${file}`);
  return i + 1;
}

function capture(): { logs: string[]; log: SymbolizerOptions['log'] } {
  const logs: string[] = [];
  return { logs, log: createLogger({ verbose: true, write: (l) => logs.push(l) }) };
}

/** Children of this process whose command is `comm` (to see that a hung helper was killed). */
function childrenNamed(comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && name === comm) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

let tmp: string;
let built: Built;
let exeSyms: Map<string, bigint>;
let libSyms: Map<string, bigint>;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mw-symbolize-'));
  mkdirSync(join(tmp, 'plain'));
  built = build(join(tmp, 'plain'));
  exeSyms = nm(built.exe);
  libSyms = nm(built.lib);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('Symbolizer with llvm-symbolizer, live process', () => {
  let proc: Running;
  let maps: ProcessMaps;
  let sym: Symbolizer;
  before(async () => {
    proc = await run(built.exe);
    maps = readProcessMaps(proc.pid);
    sym = new Symbolizer();
  });
  after(async () => {
    sym.close();
    await stop(proc);
  });

  test('function entries in the PIE executable and the shared library: name, module, symbol start, file, line', async () => {
    const cases = [
      { name: 'main', module: built.exe, syms: exeSyms, file: 'symfix_main.c' },
      { name: 'capture', module: built.exe, syms: exeSyms, file: 'symfix_main.c' },
      { name: 'outer', module: built.exe, syms: exeSyms, file: 'symfix_main.c' },
      { name: 'lib_call', module: built.lib, syms: libSyms, file: 'symfix_lib.c' },
      { name: 'lib_hidden', module: built.lib, syms: libSyms, file: 'symfix_lib.c' },
    ];
    const frames = await sym.symbolize(maps, cases.map((c) => proc.fn.get(c.name)!));
    cases.forEach((c, i) => {
      const f = frames[i]!;
      assert.equal(f.function, c.name);
      assert.equal(f.module, c.module);
      assert.equal(f.moduleStart, c.syms.get(c.name), `${c.name}: symbol start is nm's`);
      assert.equal(f.moduleAddress, c.syms.get(c.name));
      assert.equal(f.offset, 0n);
      assert.equal(basename(f.file ?? ''), c.file);
      assert.equal(f.line, markerLine(c.file, c.name));
    });
  });

  test('return addresses as a stack: file:line of the call, offsets from the symbol start', async () => {
    const main = proc.ret.get('main')!;
    const lib = proc.ret.get('lib_call')!;
    const addrs = [proc.fn.get('capture')!, main.address, lib.address, proc.tail.address];
    const [leaf, inMain, inLib, inTail] = await sym.symbolize(maps, addrs, { stack: true });
    assert.equal(leaf!.function, 'capture');
    assert.equal(leaf!.offset, 0n, 'frame 0 is looked up as is');
    assert.equal(inMain!.function, 'main');
    assert.equal(inMain!.line, main.line);
    assert.equal(inMain!.offset, main.address - proc.fn.get('main')!);
    assert.equal(inMain!.moduleStart, exeSyms.get('main'));
    assert.equal(inMain!.moduleStart! + inMain!.offset!, inMain!.moduleAddress);
    assert.equal(inLib!.function, 'lib_call');
    assert.equal(inLib!.module, built.lib);
    assert.equal(inLib!.line, lib.line);
    assert.equal(inLib!.offset, lib.address - proc.fn.get('lib_call')!);
    assert.equal(inTail!.function, 'tail_caller');
    assert.equal(inTail!.line, proc.tail.line, 'the call, not the line after it');
    // Looked up as plain addresses, a return address after a function's last call is on the next line.
    const [raw] = await sym.symbolize(maps, [proc.tail.address]);
    assert.equal(raw!.line, proc.tail.line + 1);
  });

  test('inlined frames, innermost first; the frame itself is the real function at the call site', async () => {
    const [f] = await sym.symbolize(maps, [proc.inl.address]);
    assert.equal(f!.function, 'outer');
    assert.equal(f!.line, proc.inl.callLine);
    assert.equal(f!.moduleStart, exeSyms.get('outer'));
    assert.equal(f!.inlined?.length, 1);
    assert.equal(f!.inlined![0]!.function, 'inlined_here');
    assert.equal(f!.inlined![0]!.line, proc.inl.line);
    assert.equal(basename(f!.inlined![0]!.file ?? ''), 'symfix_main.c');
  });

  test('the console and code.stacktrace lines of real frames', async () => {
    const main = proc.ret.get('main')!;
    const [f] = await sym.symbolize(maps, [main.address]);
    const start = exeSyms.get('main')!;
    const off = main.address - proc.fn.get('main')!;
    const file = join(SRC, 'symfix_main.c');
    assert.equal(formatFrameConsole(f!), `${main.address.toString(16).padStart(16, '0')}: main @ 0x${start.toString(16)}+0x${off.toString(16)} ${file}:${main.line}`);
    assert.equal(formatFrameStacktrace(f!), `main+0x${off.toString(16)} (${built.exe}) ${file}:${main.line}`);
    const [g] = await sym.symbolize(maps, [proc.inl.address]);
    assert.equal(formatFrameStacktrace(g!), [
      `inlined_here (${built.exe}) ${file}:${proc.inl.line}`,
      `outer+0x${(proc.inl.address - proc.fn.get('outer')!).toString(16)} (${built.exe}) ${file}:${proc.inl.callLine}`,
    ].join('\n'));
  });

  test('addresses outside files: pseudo-module only; outside every mapping: the address only', async () => {
    const stack = maps.mappings.find((m) => m.path === '[stack]')!;
    const [inStack, nowhere] = await sym.symbolize(maps, [stack.start + 16n, 0x10n]);
    assert.equal(inStack!.module, '[stack]');
    assert.equal(inStack!.function, undefined);
    assert.deepEqual(nowhere, { address: 0x10n });
    assert.equal(formatFrameConsole(nowhere!), '0000000000000010: <no-symbol>');
  });

  test('a snapshot that no longer matches the process (pid reused, exec) is not read through /proc/PID', async () => {
    // The same ranges, but maps said another file was there: as if the pid now belonged to another image.
    const stale: ProcessMaps = { pid: maps.pid, mappings: maps.mappings.map((m) => (m.path === built.exe ? { ...m, inode: m.inode + 1n } : { ...m })) };
    const { logs, log } = capture();
    const fresh = new Symbolizer({ log });
    try {
      const [f, g] = await fresh.symbolize(stale, [proc.fn.get('main')!, proc.fn.get('lib_call')!]);
      assert.equal(f!.function, undefined);
      assert.equal(f!.module, built.exe);
      assert.equal(g!.function, 'lib_call');
      const why = logs.find((l) => l.includes(`cannot read ${built.exe}`)) ?? '';
      assert.match(why, /map_files: not the mapped file.*proc-root: not the mapped file.*host-path: not the mapped file/, logs.join('\n'));
    } finally {
      fresh.close();
    }
  });

  test('answers come from the cache the second time; one helper serves everything', async () => {
    const addrs = [...proc.fn.values()];
    const first = await sym.symbolize(maps, addrs);
    const before = sym.stats;
    const second = await sym.symbolize(maps, addrs);
    assert.deepEqual(second, first);
    assert.equal(sym.stats.cacheHits - before.cacheHits, addrs.length);
    assert.equal(sym.stats.cacheMisses, before.cacheMisses);
    assert.equal(sym.stats.helperStarts, 1);
    const buildId = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', built.exe], { encoding: 'utf8' }))?.[1];
    assert.ok(buildId);
    assert.equal(maps.mappings.find((m) => m.path === built.exe)?.buildId, buildId, 'build-id (as readelf shows it) recorded on the snapshot');
  });
});

describe('Symbolizer on a snapshot of a process that has exited', () => {
  test('the files still on disk are found through the captured maps', async () => {
    const proc = await run(built.exe);
    const maps = readProcessMaps(proc.pid);
    await stop(proc);
    const { logs, log } = capture();
    const sym = new Symbolizer({ log });
    try {
      const main = proc.ret.get('main')!;
      const [f, g] = await sym.symbolize(maps, [main.address, proc.fn.get('lib_call')!]);
      assert.equal(f!.function, 'main');
      assert.equal(f!.line, main.line);
      assert.equal(g!.function, 'lib_call');
      assert.ok(logs.some((l) => l.includes(`opened ${built.exe} of pid ${proc.pid} via host-path`)), logs.join('\n'));
    } finally {
      sym.close();
    }
  });

  test('a file replaced by a symlink after the exit is refused, not followed', async () => {
    const dir = join(tmp, 'replaced');
    mkdirSync(dir);
    const exe = join(dir, 'symfix');
    copyFileSync(built.exe, exe);
    chmodSync(exe, 0o755);
    copyFileSync(built.lib, join(dir, 'libsymfix.so'));
    const proc = await run(exe);
    const maps = readProcessMaps(proc.pid);
    await stop(proc);
    unlinkSync(exe);
    symlinkSync(join(dir, 'libsymfix.so'), exe); // an ELF file, but not the one that was mapped
    const { logs, log } = capture();
    const sym = new Symbolizer({ log });
    try {
      const [f, g] = await sym.symbolize(maps, [proc.fn.get('main')!, proc.fn.get('lib_call')!]);
      assert.equal(f!.function, undefined);
      assert.equal(f!.module, exe);
      assert.equal(g!.function, 'lib_call', 'the library, still the mapped file, is read');
      assert.ok(logs.some((l) => l.includes(`cannot read ${exe}`) && /symbolic link, not followed/.test(l)), logs.join('\n'));
    } finally {
      sym.close();
    }
  });
});

describe('Symbolizer on stripped binaries', () => {
  test('exported library functions by their .dynsym names; the executable by module address only', async () => {
    const s = strippedCopy(built, join(tmp, 'stripped'));
    const proc = await run(s.exe);
    const sym = new Symbolizer();
    try {
      const maps = readProcessMaps(proc.pid);
      const [main, libCall, hidden] = await sym.symbolize(maps, [proc.fn.get('main')!, proc.fn.get('lib_call')!, proc.fn.get('lib_hidden')!]);
      assert.equal(main!.function, undefined);
      assert.equal(main!.module, s.exe);
      assert.equal(main!.moduleAddress, exeSyms.get('main'), 'same layout as the unstripped file');
      assert.equal(formatFrameStacktrace(main!), `[unknown] (${s.exe}+0x${exeSyms.get('main')!.toString(16)})`);
      assert.equal(libCall!.function, 'lib_call');
      assert.equal(libCall!.moduleStart, libSyms.get('lib_call'));
      assert.equal(libCall!.offset, 0n);
      assert.equal(libCall!.file, undefined);
      assert.equal(hidden!.function, undefined, 'a static function is in no table of a stripped library');
      assert.equal(hidden!.module, s.lib);
    } finally {
      sym.close();
      await stop(proc);
    }
  });
});

describe('Symbolizer without a working llvm-symbolizer', () => {
  let proc: Running;
  let maps: ProcessMaps;
  before(async () => {
    proc = await run(built.exe);
    maps = readProcessMaps(proc.pid);
  });
  after(async () => stop(proc));

  test('missing binary: names and offsets from the ELF symbol tables, no file:line', async () => {
    const { logs, log } = capture();
    const sym = new Symbolizer({ llvmSymbolizer: join(tmp, 'no-such-llvm-symbolizer'), log });
    try {
      const main = proc.ret.get('main')!;
      const [f, g, h] = await sym.symbolize(maps, [main.address, proc.fn.get('lib_hidden')!, proc.fn.get('outer')! + 3n]);
      assert.equal(f!.function, 'main');
      assert.equal(f!.moduleStart, exeSyms.get('main'));
      assert.equal(f!.offset, main.address - proc.fn.get('main')!);
      assert.equal(f!.file, undefined);
      assert.equal(f!.line, undefined);
      assert.equal(g!.function, 'lib_hidden', 'local functions from .symtab');
      assert.equal(g!.moduleStart, libSyms.get('lib_hidden'));
      assert.equal(h!.function, 'outer');
      assert.equal(h!.offset, 3n);
      assert.equal(sym.hasLineInfo, false);
      assert.equal(logs.filter((l) => l.includes('llvm-symbolizer unusable')).length, 1, logs.join('\n'));
    } finally {
      sym.close();
    }
  });

  test('a helper that exits at once (e.g. too old for JSON output) is given up after a few tries', async () => {
    const script = join(tmp, 'exits');
    writeFileSync(script, '#!/bin/sh\necho "Unknown command line argument" >&2\nexit 1\n', { mode: 0o755 });
    const sym = new Symbolizer({ llvmSymbolizer: script, log: capture().log });
    try {
      for (let i = 0; i < 4; i++) {
        const [f] = await sym.symbolize(maps, [proc.fn.get('capture')! + BigInt(i)]);
        assert.equal(f!.function, 'capture');
      }
      assert.equal(sym.stats.helperStarts, 3);
      assert.equal(sym.hasLineInfo, false);
    } finally {
      sym.close();
    }
  });

  test('a helper answering out of step is killed; the batch falls back to ELF names', async () => {
    const script = join(tmp, 'garbles');
    writeFileSync(script, '#!/bin/sh\nwhile read l; do echo \'{"ModuleName":"elsewhere","Address":"0x1"}\'; done\n', { mode: 0o755 });
    const { logs, log } = capture();
    const sym = new Symbolizer({ llvmSymbolizer: script, log });
    try {
      const [f] = await sym.symbolize(maps, [proc.fn.get('outer')!]);
      assert.equal(f!.function, 'outer');
      assert.equal(f!.file, undefined);
      assert.equal(sym.stats.fallbackBatches, 1);
      assert.ok(logs.some((l) => l.includes('answer for elsewhere 0x1, expected')), logs.join('\n'));
    } finally {
      sym.close();
    }
  });

  test('a slow start (loading debug info) gets the load allowance, not the short one', async () => {
    const real = findLlvmSymbolizer();
    assert.ok(real, 'llvm-symbolizer is installed (Debian package llvm)');
    const script = join(tmp, 'slow-start');
    // As under emulation: nothing for a while after start, then the real helper's answers.
    writeFileSync(script, `#!/bin/sh\nsleep 1\nexec ${real} "$@"\n`, { mode: 0o755 });
    const { logs, log } = capture();
    const sym = new Symbolizer({ llvmSymbolizer: script, log, timeoutMs: 200, loadTimeoutMs: 20_000 });
    try {
      const [f] = await sym.symbolize(maps, [proc.fn.get('capture')!]);
      assert.equal(f!.function, 'capture');
      assert.ok(f!.file?.endsWith('symfix_main.c'), `file:line from llvm-symbolizer: ${f!.file}`);
      assert.equal(sym.stats.helperStarts, 1);
      assert.equal(sym.stats.fallbackBatches, 0);
      assert.deepEqual(logs.filter((l) => l.includes('no answer within')), [], logs.join('\n'));
    } finally {
      sym.close();
    }
  });

  test('a loaded helper that overruns the short allowance: the batch is asked once more of a fresh helper', async () => {
    const real = findLlvmSymbolizer();
    assert.ok(real, 'llvm-symbolizer is installed (Debian package llvm)');
    const script = join(tmp, 'stalls-once');
    const mark = join(tmp, 'stalls-once.started');
    // The first helper answers one request, then stalls; the ones after it are the real helper.
    writeFileSync(
      script,
      `#!/bin/sh\nif [ ! -e ${mark} ]; then\n  : > ${mark}\n  read l\n  echo "$l" | ${real} "$@"\n  exec sleep 30\nfi\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    const { logs, log } = capture();
    const sym = new Symbolizer({ llvmSymbolizer: script, log, timeoutMs: 300, loadTimeoutMs: 20_000 });
    try {
      const [a] = await sym.symbolize(maps, [proc.fn.get('capture')!]);
      assert.ok(a!.file?.endsWith('symfix_main.c'), `first batch from the first helper: ${a!.file}`);
      // Same module, so the short allowance: it stalls, and the retry answers with file:line.
      const [b] = await sym.symbolize(maps, [proc.fn.get('outer')!]);
      assert.equal(b!.function, 'outer');
      assert.ok(b!.file?.endsWith('symfix_main.c'), `retried on a fresh helper: ${b!.file}`);
      assert.equal(sym.stats.helperStarts, 2);
      assert.equal(sym.stats.fallbackBatches, 0);
      assert.ok(logs.some((l) => l.includes('no answer within 300 ms; restarting it')), logs.join('\n'));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(childrenNamed('sleep'), [], 'the stalled helper was killed');
    } finally {
      sym.close();
    }
  });

  test('a hung helper: the batch ends at the timeout with ELF names, the helper is killed and restarted', async () => {
    const script = join(tmp, 'hangs');
    writeFileSync(script, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const { logs, log } = capture();
    const sym = new Symbolizer({ llvmSymbolizer: script, log, timeoutMs: 300, loadTimeoutMs: 300 });
    try {
      const t0 = performance.now();
      const [f] = await sym.symbolize(maps, [proc.fn.get('capture')!]);
      assert.ok(performance.now() - t0 < 2000);
      assert.equal(f!.function, 'capture');
      assert.equal(f!.file, undefined);
      assert.equal(sym.stats.fallbackBatches, 1);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(childrenNamed('sleep'), [], 'the hung helper was killed');
      assert.ok(logs.some((l) => l.includes('no answer within 300 ms; restarting it')), logs.join('\n'));
      // Not cached: the next batch asks a new helper again.
      await sym.symbolize(maps, [proc.fn.get('capture')!]);
      assert.equal(sym.stats.helperStarts, 2);
    } finally {
      sym.close();
    }
  });
});

describe('maps parsing and address translation', () => {
  const TEXT = [
    '55d0c2a00000-55d0c2a01000 r--p 00000000 fe:01 1311 /usr/bin/my app',
    '55d0c2a01000-55d0c2a02000 r-xp 00001000 fe:01 1311 /usr/bin/my app',
    '7f0000000000-7f0000021000 rw-p 00000000 00:00 0 ',
    '7f1000000000-7f1000001000 r-xp 00002000 08:02 99 /tmp/libx.so (deleted)',
    '7ffc1234d000-7ffc1234f000 r-xp 00000000 00:00 0                          [vdso]',
    '',
  ].join('\n');

  test('paths with spaces, deleted files, anonymous memory and pseudo-files', () => {
    const maps = { pid: 1, mappings: parseMaps(TEXT) };
    assert.equal(maps.mappings.length, 5);
    const app = findMapping(maps, 0x55d0c2a01234n)!;
    assert.deepEqual({ ...app }, { start: 0x55d0c2a01000n, end: 0x55d0c2a02000n, perms: 'r-xp', offset: 0x1000n, devMajor: 0xfe, devMinor: 1, inode: 1311n, path: '/usr/bin/my app', deleted: false });
    assert.equal(findMapping(maps, 0x7f0000000010n)!.path, '');
    const lib = findMapping(maps, 0x7f1000000000n)!;
    assert.equal(lib.path, '/tmp/libx.so');
    assert.equal(lib.deleted, true);
    assert.equal(findMapping(maps, 0x7ffc1234d100n)!.path, '[vdso]');
    assert.equal(findMapping(maps, 0x55d0c2a02000n), undefined, 'end is exclusive');
  });

  test('file offset to ELF address through PT_LOAD, including a data segment not page-aligned in the file', () => {
    const elf: ElfInfo = {
      is64: true, littleEndian: true, type: 3, hasSymtab: true,
      loads: [
        { offset: 0n, vaddr: 0n, filesz: 0x618n, memsz: 0x618n, executable: false },
        { offset: 0x1000n, vaddr: 0x1000n, filesz: 0x181n, memsz: 0x181n, executable: true },
        { offset: 0x2dd0n, vaddr: 0x3dd0n, filesz: 0x248n, memsz: 0x250n, executable: false },
      ],
    };
    assert.equal(fileOffsetToVaddr(elf, 0x1010n), 0x1010n);
    assert.equal(fileOffsetToVaddr(elf, 0x2de0n), 0x3de0n);
    assert.equal(fileOffsetToVaddr(elf, 0x2d00n), 0x3d00n, 'padding before the segment in its first page');
    assert.equal(fileOffsetToVaddr(elf, 0x9000n), undefined);
  });
});

describe('formatting frames', () => {
  const full: Frame = {
    address: 0x7f12a0001234n, module: '/usr/lib/libfoo.so', moduleAddress: 0x1234n, moduleStart: 0x1200n, function: 'ns::Foo::bar(int)', offset: 0x34n,
    file: '/src/foo.cc', line: 42, column: 7,
    inlined: [
      { address: 0x7f12a0001234n, function: 'inner', file: '/src/inner.h', line: 3 },
      { address: 0x7f12a0001234n, function: 'middle', file: '/src/middle.h', line: 9 },
    ],
  };
  test('the original console line, inlined frames after it, outermost call first', () => {
    assert.equal(formatFrameConsole(full), [
      '00007f12a0001234: ns::Foo::bar(int) @ 0x1200+0x34 /src/foo.cc:42',
      '                  middle @ /src/middle.h:9 [inlined]',
      '                  inner @ /src/inner.h:3 [inlined]',
    ].join('\n'));
    assert.equal(formatFrameConsole({ address: 0x401000n, module: '/bin/x', moduleAddress: 0x1000n }), '0000000000401000: <no-symbol> /bin/x+0x1000');
  });
  test('a newline in a name (a file a traced process mapped) is written as \\n: it cannot forge a frame line', () => {
    const evil = { address: 0x401000n, module: '/tmp/lib\nmain+0x1 (/bin/forged)', function: 'f', moduleStart: 0x1000n, offset: 0n, file: '/src/a\nb.c', line: 1 };
    assert.equal(formatFrameStacktrace(evil), 'f+0x0 (/tmp/lib\\nmain+0x1 (/bin/forged)) /src/a\\nb.c:1');
    assert.equal(formatFrameConsole({ ...evil, function: undefined, moduleAddress: 0x10n }).split('\n').length, 1);
  });
  test('code.stacktrace: one frame a line, innermost first', () => {
    assert.equal(formatFrameStacktrace(full), [
      'inner (/usr/lib/libfoo.so) /src/inner.h:3',
      'middle (/usr/lib/libfoo.so) /src/middle.h:9',
      'ns::Foo::bar(int)+0x34 (/usr/lib/libfoo.so) /src/foo.cc:42',
    ].join('\n'));
    assert.equal(formatFrameStacktrace({ address: 0x401000n, module: '/bin/x', function: 'f', moduleStart: 0x1000n, offset: 0n }), 'f+0x0 (/bin/x)');
    assert.equal(formatFrameStacktrace({ address: 0x10n }), '[unknown] (0x10)');
  });
});
