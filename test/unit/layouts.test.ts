// Every registered probe's record layouts agree with the BPF object the build made: the size of
// each struct and the offset of every member, from the object's own BTF (no kernel involved).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROBES } from '../../src/app/registry.ts';
import { objectPath } from '../../src/runtime/attach.ts';
import { layoutMismatches } from '../../src/runtime/layout-check.ts';
import type { ProbeDefinition } from '../../src/runtime/probe.ts';

for (const probe of PROBES) {
  const def = probe.definition as ProbeDefinition<unknown, unknown>;
  test(`${probe.name}: its declared layouts are the object's`, () => {
    assert.ok(def.layouts?.length, `${probe.name} declares no record layouts`);
    assert.deepEqual(layoutMismatches(objectPath(def), def.layouts), []);
  });
}
