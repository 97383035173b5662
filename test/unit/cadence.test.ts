// The once-per-interval schedule of self-triggered and iterator sampling: the period holds on
// average whatever the poll rate, and a stall restarts it instead of bursting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cadence } from '../../src/runtime/cadence.ts';

function fires(c: Cadence, from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let t = from; t <= to; t += step) if (c.due(t)) out.push(t);
  return out;
}

test('polled every 200 ms with a 1 s period: due at once, then every 1000 ms', () => {
  assert.deepEqual(fires(new Cadence(1000), 0, 4000, 200), [0, 1000, 2000, 3000, 4000]);
});

test('polled every 50 ms: no more often than the period', () => {
  assert.deepEqual(fires(new Cadence(200), 0, 1000, 50), [0, 200, 400, 600, 800, 1000]);
});

test('a poll late by part of a period keeps the schedule (the next gap is shorter)', () => {
  const c = new Cadence(1000);
  assert.ok(c.due(0));
  assert.ok(c.due(1150));
  assert.ok(!c.due(1900));
  assert.ok(c.due(2000));
});

test('a stall of more than a period restarts from the late poll: one sample, not a burst', () => {
  const c = new Cadence(1000);
  assert.ok(c.due(0));
  assert.ok(c.due(5300));
  assert.ok(!c.due(5400));
  assert.ok(!c.due(6200));
  assert.ok(c.due(6300));
});
