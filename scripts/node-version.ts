// One Node.js version everywhere: package.json's engines range, its `node` dependency (the
// Node that `npm ci` brings and node_modules/.bin/node runs), that dependency's lock entry, the
// Dockerfile's NODE_VERSION and @types/node's major. test/unit/node-version.test.ts and CI
// (.ci/run) run these checks; this script prints them and fails on a disagreement.
//
//   node_modules/.bin/node scripts/node-version.ts
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');

type Version = [number, number, number];

/** "24.21.0", "v24.21", "24" -> [24, 21, 0] (missing parts are 0). */
export function parseVersion(v: string): Version {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(v.trim());
  if (!m) throw new Error(`not a version: ${v}`);
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** The ranges this project writes: space-separated >=, >, <=, <, = comparators, or ^X.Y.Z. */
export function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  return range.trim().split(/\s+/).every((part) => {
    const m = /^(\^|>=|<=|>|<|=)?(.+)$/.exec(part);
    if (!m) throw new Error(`unsupported range ${range}`);
    const [, op = '=', rest] = m;
    const w = parseVersion(rest!);
    const c = cmp(v, w);
    switch (op) {
      case '^': return c >= 0 && v[0] === w[0];
      case '>=': return c >= 0;
      case '>': return c > 0;
      case '<=': return c <= 0;
      case '<': return c < 0;
      default: return c === 0;
    }
  });
}

export interface NodeVersions {
  engines: string;
  /** package-lock.json's copy of engines (its root package entry). */
  lockEngines: string;
  dependency: string;
  lock: string;
  dockerfile: string;
  typesNode: string;
}

export function nodeVersions(root = ROOT): NodeVersions {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    engines?: { node?: string }; dependencies?: Record<string, string>; devDependencies?: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages?: Record<string, { version?: string; engines?: { node?: string } }> };
  const arg = /^ARG NODE_VERSION=(\S+)$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  return {
    engines: pkg.engines?.node ?? '',
    lockEngines: lock.packages?.['']?.engines?.node ?? '',
    dependency: pkg.dependencies?.node ?? '',
    lock: lock.packages?.['node_modules/node']?.version ?? '',
    dockerfile: arg?.[1] ?? '',
    typesNode: pkg.devDependencies?.['@types/node'] ?? '',
  };
}

/** What disagrees, one sentence each; empty when all agree. */
export function disagreements(v: NodeVersions = nodeVersions()): string[] {
  const out: string[] = [];
  for (const [k, what] of [['engines', 'package.json engines.node'], ['dependency', 'package.json dependencies.node'], ['lock', 'package-lock.json node_modules/node'],
    ['dockerfile', 'Dockerfile ARG NODE_VERSION'], ['typesNode', 'package.json devDependencies @types/node']] as const) {
    if (!v[k]) out.push(`${what} is missing`);
  }
  if (out.length) return out;
  // engines is exactly the dependency's caret range: from its version to the next major.
  const dep = /^\^(\d+\.\d+\.\d+)$/.exec(v.dependency);
  if (!dep) return [`package.json dependencies.node is ${v.dependency}: expected a caret range (^X.Y.Z)`];
  const base = parseVersion(dep[1]!);
  const m = /^>=(\S+) <(\d+)$/.exec(v.engines);
  if (!m || cmp(parseVersion(m[1]!), base) !== 0 || Number(m[2]) !== base[0] + 1) {
    out.push(`package.json engines.node is "${v.engines}": expected ">=${dep[1]} <${base[0] + 1}", the range of dependencies.node ${v.dependency}`);
  }
  if (v.lockEngines !== v.engines) out.push(`package-lock.json's root engines.node is "${v.lockEngines}", package.json's "${v.engines}"`);
  if (!satisfies(v.lock, v.dependency)) out.push(`package-lock.json has node ${v.lock}, outside ${v.dependency}`);
  if (!satisfies(v.dockerfile, v.dependency)) out.push(`Dockerfile ARG NODE_VERSION=${v.dockerfile} is outside ${v.dependency}`);
  else if (cmp(parseVersion(v.dockerfile), parseVersion(v.lock)) !== 0) out.push(`Dockerfile ARG NODE_VERSION=${v.dockerfile} is not the locked node ${v.lock}`);
  const types = /^[\^~]?(\d+)\./.exec(v.typesNode);
  if (Number(types?.[1]) !== base[0]) out.push(`@types/node ${v.typesNode} is not for Node ${base[0]}`);
  return out;
}

if (import.meta.main) {
  const v = nodeVersions();
  const bad = disagreements(v);
  if (!satisfies(process.version, v.engines)) bad.push(`this Node is ${process.version}, outside engines ${v.engines}`);
  if (bad.length) {
    for (const b of bad) process.stderr.write(`node version: ${b}\n`);
    process.exit(1);
  }
  process.stdout.write(`node version: ${process.version} runs; engines ${v.engines}, dependency ${v.dependency} (locked ${v.lock}), Dockerfile ${v.dockerfile}, @types/node ${v.typesNode}: one version\n`);
}
