// system.memory.* from /proc/meminfo: the states add up to MemTotal, as the hostmetrics
// receiver's do, and nothing is invented for a field the kernel does not print.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMeminfo, readSystemMemory, systemMemory } from '../../src/host/meminfo.ts';
import { readKbFile } from '../helpers/proc.ts';

const SAMPLE = `MemTotal:        8039712 kB
MemFree:          415672 kB
MemAvailable:    5320404 kB
Buffers:          264388 kB
Cached:          4660552 kB
SwapCached:         1024 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`;

test('used is what free, buffers and cached leave of MemTotal', () => {
  const m = parseMeminfo(SAMPLE);
  assert.equal(m.HugePages_Total, undefined, 'a count without kB is not bytes');
  const s = systemMemory(m)!;
  assert.equal(s.total, 8039712 * 1024);
  assert.equal(s.available, 5320404 * 1024);
  assert.deepEqual(s.states, { used: (8039712 - 415672 - 264388 - 4660552) * 1024, free: 415672 * 1024, cached: 4660552 * 1024, buffers: 264388 * 1024 });
});

test('without MemTotal there is nothing to report; without MemAvailable (before 3.14) it is absent', () => {
  assert.equal(systemMemory(parseMeminfo('MemFree: 1 kB\n')), undefined);
  assert.equal(systemMemory(parseMeminfo('MemTotal: 4 kB\nMemFree: 1 kB\n'))?.available, undefined);
  assert.equal(readSystemMemory('/nonexistent/meminfo'), undefined);
});

test('on this host the states add up to /proc/meminfo MemTotal', () => {
  const s = readSystemMemory()!;
  assert.equal(s.total, readKbFile('/proc/meminfo').MemTotal);
  const sum = Object.values(s.states).reduce((a, v) => a + v, 0);
  assert.equal(sum, s.total);
});
