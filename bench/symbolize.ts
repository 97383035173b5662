// Symbolization cost per 1,000 frames: cold (new Symbolizer: helper start, modules opened and
// parsed), warm helper with new addresses (cache misses), warm cache (same addresses again),
// and the ELF-only fallback. The target is this Node process itself: the node binary (126 MB,
// C++ with a .symtab and some DWARF) and the shared libraries it maps (libc with Debian's
// libc6-dbg DWARF when installed); then a small process (`sleep`: a stripped binary and libc).
// Run: node_modules/.bin/node bench/symbolize.ts [frames=1000] [rounds=5]
import { Symbolizer, type SymbolizerOptions } from '../src/symbolize/symbolizer.ts';
import { spawn } from 'node:child_process';
import { readProcessMaps, type ProcessMaps } from '../src/host/maps.ts';

const FRAMES = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 5);

/** Deterministic addresses spread over the executable mappings, weighted by size. */
function addresses(maps: ProcessMaps, n: number, seed: number): bigint[] {
  const exec = maps.mappings.filter((m) => m.perms[2] === 'x' && m.path.startsWith('/'));
  const total = exec.reduce((s, m) => s + Number(m.end - m.start), 0);
  let x = seed >>> 0;
  const rand = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    let at = Math.floor(rand() * total);
    for (const m of exec) {
      const len = Number(m.end - m.start);
      if (at < len) {
        out.push(m.start + BigInt(at));
        break;
      }
      at -= len;
    }
  }
  return out;
}

/** Wall time and this process's CPU time (the helper's own CPU is not in it). */
async function time(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
}

const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const show = (t: Array<{ wall: number; cpu: number }>) => `${median(t.map((x) => x.wall)).toFixed(1)} ms (cpu ${median(t.map((x) => x.cpu)).toFixed(1)})`;

async function measure(label: string, pid: number, opts: SymbolizerOptions): Promise<void> {
  const maps = readProcessMaps(pid);
  const cold: Array<{ wall: number; cpu: number }> = [];
  const missWarm: typeof cold = [];
  const hit: typeof cold = [];
  let resolved = 0;
  let withLine = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const sym = new Symbolizer(opts);
    const a = addresses(maps, FRAMES, 1 + r);
    cold.push(await time(async () => {
      const frames = await sym.symbolize(maps, a);
      resolved = frames.filter((f) => f.function !== undefined).length;
      withLine = frames.filter((f) => f.line !== undefined).length;
    }));
    missWarm.push(await time(() => sym.symbolize(maps, addresses(maps, FRAMES, 1000 + r))));
    hit.push(await time(() => sym.symbolize(maps, a)));
    sym.close();
  }
  console.log(`${label}: per ${FRAMES} frames (median of ${ROUNDS}): cold ${show(cold)}, warm helper / new addresses ${show(missWarm)}, warm cache ${show(hit)}; ${resolved} with a function, ${withLine} with file:line`);
}

function describe(pid: number, what: string): void {
  const maps = readProcessMaps(pid);
  const modules = new Set(maps.mappings.filter((m) => m.perms[2] === 'x' && m.path.startsWith('/')).map((m) => m.path));
  console.log(`target ${what} (pid ${pid}), ${modules.size} executable modules: ${[...modules].join(', ')}`);
}

console.log(`load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}; wall time, and in parentheses the agent's own CPU time`);
describe(process.pid, 'this node process');
await measure('  llvm-symbolizer', process.pid, {});
await measure('  ELF-only fallback', process.pid, { llvmSymbolizer: '/nonexistent/llvm-symbolizer' });
const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
try {
  await new Promise((r) => setTimeout(r, 100));
  describe(sleeper.pid!, 'sleep');
  await measure('  llvm-symbolizer', sleeper.pid!, {});
  await measure('  ELF-only fallback', sleeper.pid!, { llvmSymbolizer: '/nonexistent/llvm-symbolizer' });
} finally {
  sleeper.kill();
}
