// Where memleak hooks each allocator function: the dynamic linker's rule (the first object in
// search order that defines it) applied to the real libraries of this machine, and the search
// order read from a live process's link map against the one rebuilt from DT_NEEDED. Reads
// files and this process's own /proc entries: no BPF.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { hostFile } from '../../src/host/attach-file.ts';
import { planHooks, placementsByModule, processObjects, type LoadedObject } from '../../src/probes/memleak/allocator.ts';
import { readElfObject } from '../../src/probes/memleak/elf-exports.ts';
import { readLinkMap } from '../../src/probes/memleak/link-map.ts';

const LIB = '/usr/lib/x86_64-linux-gnu';
const LIBC = `${LIB}/libc.so.6`;
const STDCXX = `${LIB}/libstdc++.so.6`;
const JEMALLOC = `${LIB}/libjemalloc.so.2`;
const TCMALLOC = `${LIB}/libtcmalloc_minimal.so.4`;

const objects = (...paths: string[]): LoadedObject[] => paths.map((p, i) => ({ file: hostFile(realpathSync(p)), executable: i === 0 }));
const where = (groups: ReturnType<typeof placementsByModule>, func: string) => {
  const g = groups.find((x) => x.functions.includes(func));
  return g && basename(g.module).replace(/^(.*\.so\.\d+)(\.\d+)+$/, '$1');
};

test('ELF reader: a program\'s interpreter and needed libraries, a library\'s defined functions only', () => {
  const sleep = readElfObject('/bin/sleep', new Set(['malloc']));
  assert.equal(sleep.interp, '/lib64/ld-linux-x86-64.so.2');
  assert.ok(sleep.needed.includes('libc.so.6'));
  assert.equal(sleep.defines.size, 0, 'it calls malloc (UND), it does not define it');
  const libc = readElfObject(LIBC, new Set(['malloc', 'free', 'no_such_function']));
  assert.deepEqual(readElfObject(STDCXX, new Set()).interp, undefined, 'a library asks for no interpreter (glibc\'s libc.so.6 does: it runs)');
  assert.deepEqual([...libc.defines.keys()].sort(), ['free', 'malloc']);
  assert.throws(() => readElfObject('/etc/hostname', new Set()), /\/etc\/hostname: not an ELF file/);
});

test('libstdc++ before libc: the C allocator in libc, the operators in libstdc++', () => {
  const plan = planHooks(objects('/bin/sleep', STDCXX, LIBC), 'test');
  const g = placementsByModule(plan.placements);
  assert.equal(where(g, 'malloc'), 'libc.so.6');
  assert.equal(where(g, '_Znwm'), 'libstdc++.so.6');
  assert.equal(where(g, '_ZdlPvmSt11align_val_t'), 'libstdc++.so.6');
  assert.equal(where(g, 'mallocx'), undefined, 'nobody defines it: not hooked, not reported');
  assert.deepEqual(plan.missing, []);
  // glibc's aligned_alloc and memalign are one function: hooked once.
  const aligned = plan.placements.find((p) => p.func === 'aligned_alloc');
  assert.deepEqual(aligned?.aliases, ['memalign']);
  assert.equal(plan.executable, realpathSync('/bin/sleep'));
});

test('jemalloc first (preloaded or needed first): malloc, its own API and the operators in it; what it lacks in libc', { skip: !existsSync(JEMALLOC) && 'apt-get install libjemalloc2' }, () => {
  const plan = planHooks(objects('/bin/sleep', JEMALLOC, STDCXX, LIBC), 'test');
  const g = placementsByModule(plan.placements);
  for (const f of ['malloc', 'free', 'calloc', 'realloc', 'mallocx', 'rallocx', 'xallocx', 'dallocx', 'sdallocx', '_Znwm', '_ZdaPv']) assert.equal(where(g, f), 'libjemalloc.so.2', f);
  for (const f of ['pvalloc', 'reallocarray', 'mmap', 'munmap']) assert.equal(where(g, f), 'libc.so.6', f);
});

test('tcmalloc: aliases hooked once (malloc = tc_malloc = __libc_malloc); its mmap and the C library\'s both', { skip: !existsSync(TCMALLOC) && 'apt-get install libtcmalloc-minimal4' }, () => {
  const plan = planHooks(objects('/bin/sleep', TCMALLOC, STDCXX, LIBC), 'test');
  const malloc = plan.placements.find((p) => p.func === 'malloc');
  assert.ok(malloc?.aliases.includes('tc_malloc'), JSON.stringify(malloc?.aliases));
  assert.equal(plan.placements.filter((p) => p.func === 'tc_malloc').length, 0);
  const mmaps = plan.placements.filter((p) => p.func === 'mmap').map((p) => basename(p.file.path).replace(/(\.\d+)+$/, ''));
  assert.deepEqual(mmaps, ['libtcmalloc_minimal.so', 'libc.so']);
  const addresses = new Set(plan.placements.map((p) => `${p.file.path}:${p.func}`));
  assert.equal(addresses.size, plan.placements.length);
});

test('--memleak-lib with a prefix: the C and jemalloc names prefixed in that file; nothing defines malloc: refused', () => {
  assert.throws(() => planHooks(objects('/bin/sleep'), 'test'), /none of its 1 objects defines malloc/);
  assert.throws(() => planHooks(objects('/bin/sleep', LIBC), 'test', hostFile(LIBC), 'je_'), /libc\.so\.6 defines no je_malloc/);
});

test('this process\'s link map: the executable, then its libraries in load order; DT_NEEDED rebuilds the same order', () => {
  const links = readLinkMap(process.pid);
  assert.ok(links && links.length >= 3);
  assert.equal(links[0]!.name, '', 'the executable first');
  assert.ok(links.some((l) => basename(l.name) === 'libc.so.6'));
  const maps = readFileSync(`/proc/${process.pid}/maps`, 'latin1');
  for (const l of links.slice(1)) if (l.name.startsWith('/')) assert.ok(maps.includes(l.base.toString(16).padStart(12, '0')) || maps.includes(l.base.toString(16)), `${l.name} mapped at its l_addr`);
  const fromLinkMap = processObjects(process.pid);
  const fromNeeded = processObjects(process.pid, { linkMap: false });
  assert.equal(fromLinkMap.order, 'link_map');
  assert.match(fromNeeded.order, /^DT_NEEDED/);
  const names = (o: typeof fromLinkMap) => o.objects.map((x) => x.file.path);
  assert.deepEqual(names(fromNeeded), names(fromLinkMap));
});
