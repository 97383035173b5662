// The README and docs/ stay true to the code: the config table of docs/configuration.md is the
// schema's, and the README names every metric and flag the product has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIGURATION, README, withConfigTable } from '../../scripts/update-readme.ts';
import { METRIC } from '../../src/telemetry/semconv.ts';
import { USAGE } from '../../src/cli/args.ts';

const readme = readFileSync(README, 'utf8');

test('the config table of docs/configuration.md matches the schema (regenerate with node scripts/update-readme.ts)', () => {
  const doc = readFileSync(CONFIGURATION, 'utf8');
  assert.equal(doc, withConfigTable(doc));
});

test('the README names every metric mem-watcher exports', () => {
  for (const name of Object.values(METRIC)) {
    const short = name.split('.').pop()!;
    assert.ok(readme.includes(name) || readme.includes(`\`.${short}\``), `${name} missing from README`);
  }
});

test('the README documents every long flag of --help', () => {
  for (const m of USAGE.matchAll(/--([a-z][a-z-]+)/g)) {
    assert.ok(readme.includes(`--${m[1]}`), `--${m[1]} missing from README`);
  }
});
