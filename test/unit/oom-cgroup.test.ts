// The memcg path resolver on a directory tree standing in for a cgroup hierarchy: a kernfs id is
// the inode of the cgroup's directory; a cgroup created after the first walk is found by walking
// again (once per unknown id), and one removed since the walk still resolves (its kill is often read after that).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupPathResolver, walkCgroups } from '../../src/probes/oom/cgroup.ts';

test('memcg paths by inode, before and after the cgroup goes', () => {
  const root = mkdtempSync(join(tmpdir(), 'mw-oom-cg-'));
  try {
    mkdirSync(join(root, 'system.slice/docker-abc.scope'), { recursive: true });
    const r = new CgroupPathResolver(root);
    r.refresh();
    assert.equal(r.resolve(statSync(join(root, 'system.slice/docker-abc.scope')).ino), '/system.slice/docker-abc.scope');
    assert.equal(r.resolve(statSync(root).ino), '/');
    // created after the walk: found by walking again
    mkdirSync(join(root, 'late'));
    const late = statSync(join(root, 'late')).ino;
    assert.equal(r.resolve(late), '/late');
    // an id no walk finds is not walked for twice (created since: a later walk finds it)
    assert.equal(r.resolve(987654321), undefined);
    mkdirSync(join(root, 'later'));
    assert.equal(r.resolve(987654321), undefined);
    assert.equal(r.resolve(statSync(join(root, 'later')).ino), '/later');
    // removed: still known
    rmdirSync(join(root, 'late'));
    assert.equal(r.resolve(late), '/late');
    assert.deepEqual(walkCgroups(root).sort(), ['/', '/later', '/system.slice', '/system.slice/docker-abc.scope']); // readdir order
    assert.equal(walkCgroups(root, 2).length, 2);
  } finally {
    rmSync(root, { recursive: true });
  }
});
