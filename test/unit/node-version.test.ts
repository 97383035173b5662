// One Node.js version: package.json engines and its `node` dependency, the lock, the
// Dockerfile, @types/node, CI and the docs agree (scripts/node-version.ts), and the Node
// running the tests is that one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { disagreements, nodeVersions, parseVersion, ROOT, satisfies } from '../../scripts/node-version.ts';

test('engines (in package.json and the lock), the node dependency and its lock entry, the Dockerfile and @types/node name one Node version', () => {
  assert.deepEqual(disagreements(), []);
});

test('the Node running the tests is within engines', () => {
  const { engines } = nodeVersions();
  assert.ok(satisfies(process.version, engines), `${process.version} is outside ${engines}: run the tests with node_modules/.bin/node`);
});

test('the docs say which: the README the engines range, docs/deployment.md the image\'s Node', () => {
  const { engines, dockerfile } = nodeVersions();
  assert.ok(readFileSync(join(ROOT, 'README.md'), 'utf8').includes(`\`${engines}\``), `README.md does not name engines ${engines}`);
  assert.ok(readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8').includes(`node:${dockerfile}-bookworm-slim`), `docs/deployment.md does not name node:${dockerfile}-bookworm-slim`);
});

test('CI checks the version', () => {
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /^node_modules\/\.bin\/node scripts\/node-version\.ts$/m);
});

test('the checks catch a disagreement', () => {
  const good = { engines: '>=24.21.0 <25', lockEngines: '>=24.21.0 <25', dependency: '^24.21.0', lock: '24.21.0', dockerfile: '24.21.0', typesNode: '^24.10.0' };
  assert.deepEqual(disagreements(good), []);
  const says = (v: Partial<typeof good>) => disagreements({ ...good, ...v }).join('\n');
  assert.match(says({ engines: '>=22.15' }), /engines\.node is ">=22\.15"/);
  assert.match(says({ lockEngines: '>=22.15' }), /root engines\.node is ">=22\.15"/);
  assert.match(says({ dockerfile: '24.11' }), /NODE_VERSION=24\.11 is outside/);
  assert.match(says({ dockerfile: '24.22.0' }), /NODE_VERSION=24\.22\.0 is not the locked node 24\.21\.0/);
  assert.match(says({ lock: '25.0.0' }), /package-lock\.json has node 25\.0\.0/);
  assert.match(says({ typesNode: '^22.0.0' }), /@types\/node \^22\.0\.0/);
  assert.match(says({ dockerfile: '' }), /Dockerfile ARG NODE_VERSION is missing/);
  assert.deepEqual(parseVersion('v24.21'), [24, 21, 0]);
  assert.ok(satisfies('24.22.1', '^24.21.0') && !satisfies('25.0.0', '^24.21.0') && !satisfies('24.20.9', '>=24.21.0 <25'));
});
