// Fills node's compile cache (NODE_COMPILE_CACHE) with every module the given entry files load,
// without running any of them: run-all.ts calls it on the host, where compiling costs
// milliseconds, for the guests, where stripping TypeScript and compiling it costs a node process
// seconds (and a cache miss loads amaro's WebAssembly, see test/kernels/run).
//
//   NODE_COMPILE_CACHE=DIR node [V8 FLAGS] test/kernels/warm-cache.ts ENTRY...
//
// The cache is keyed by V8's flags and each file's path and contents: run it with the flags the
// guest's node runs with, on the files at the paths the guest sees.
//
// How: one module imports a module that throws, then every entry. Node compiles a module graph
// whole before evaluating any of it, and evaluation starts with the first import: it stops at
// the throw, with every other module compiled and none run.
import { flushCompileCache, getCompileCacheDir } from 'node:module';
import { pathToFileURL } from 'node:url';

const STOP = 'compile-cache warm-up: nothing runs';
if (!getCompileCacheDir()) throw new Error('warm-cache.ts: NODE_COMPILE_CACHE is not set');
const root = [
  `import 'data:text/javascript,throw new Error(${encodeURIComponent(JSON.stringify(STOP))})';`,
  ...process.argv.slice(2).map((f) => `import ${JSON.stringify(pathToFileURL(f).href)};`),
].join('\n');
try {
  await import('data:text/javascript,' + encodeURIComponent(root));
  throw new Error('warm-cache.ts: the entries ran');
} catch (err) {
  if ((err as Error).message !== STOP) throw err;
}
flushCompileCache();
