// The memcg path resolver on a directory tree standing in for a cgroup hierarchy: a kernfs id is
// the inode of the cgroup's directory; a cgroup created after the first walk is found by walking
// again, and one removed since the walk still resolves (its kill is often read after that).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupPathResolver, walkCgroups } from '../../src/probes/oom/cgroup.ts';

test('memcg paths by inode, before and after the cgroup goes', async () => {
  const root = mkdtempSync(join(tmpdir(), 'mw-oom-cg-'));
  try {
    mkdirSync(join(root, 'system.slice/docker-abc.scope'), { recursive: true });
    const r = new CgroupPathResolver(root);
    r.refresh();
    assert.equal(r.resolve(statSync(join(root, 'system.slice/docker-abc.scope')).ino), '/system.slice/docker-abc.scope');
    assert.equal(r.resolve(statSync(root).ino), '/');
    // created after the walk: found by walking again (not within 200 ms of the last walk)
    mkdirSync(join(root, 'late'));
    const late = statSync(join(root, 'late')).ino;
    await new Promise((res) => setTimeout(res, 250));
    assert.equal(r.resolve(late), '/late');
    // removed: still known
    rmdirSync(join(root, 'late'));
    assert.equal(r.resolve(late), '/late');
    assert.deepEqual(walkCgroups(root), ['/', '/system.slice', '/system.slice/docker-abc.scope']);
    assert.equal(walkCgroups(root, 2).length, 2);
  } finally {
    rmSync(root, { recursive: true });
  }
});
