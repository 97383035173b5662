// `mem-watcher -a` as a user runs it, during a real page allocation failure (provoked as in
// paf-failure.test.ts, only where that is safe): the failure's row carries its zone's
// watermarks and size as /proc/zoneinfo has them. The CLI picks its strategy itself, as it
// does for a user: the kernel matrix runs this once per kernel (paf-failure.test.ts checks each
// strategy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCli } from '../helpers/cli.ts';
import { scaled } from '../../harness/time-scale.ts';
import { provokeFailure, provokeRefusal, readZoneinfo } from '../fixtures/paf-provoke.ts';

test('mem-watcher -a prints the failure: MIN LOW HIGH PRESENT FLAG ORDER ZONE GFP', { skip: provokeRefusal('test/kernel/paf-cli.test.ts'), timeout: scaled(60_000) }, async () => {
  const cli = startCli(['-a', '--interval', '0.5', '--duration', '200']);
  try {
    await cli.waitForOutput(/MIN\s+LOW\s+HIGH\s+PRESENT\s+FLAG\s+ORDER\s+ZONE\s+GFP/, 15_000);
    await provokeFailure([cli.child.pid!]);
    const m = await cli.waitForOutput(/^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(0x[0-9a-f]+)\s+9\s+(\S+)\s+\S*__GFP_COMP\S*$/m, 10_000);
    const [, min, low, high, present, , zone] = m;
    const z = readZoneinfo().find((x) => x.node === 0 && x.name === zone);
    assert.ok(z, `zone ${zone} is in /proc/zoneinfo`);
    // boost may have changed since: compare without it
    const b = z.boost;
    assert.deepEqual([Number(min) - b, Number(low) - b, Number(high) - b, Number(present)], [z.min - b, z.low - b, z.high - b, z.present]);
  } finally {
    cli.child.kill('SIGINT');
    const killer = setTimeout(() => cli.child.kill('SIGKILL'), scaled(10_000));
    await cli.exited;
    clearTimeout(killer);
  }
  const { code } = await cli.exited;
  assert.equal(code, 0, `stopped by SIGINT: ${cli.stderr()}`);
});
