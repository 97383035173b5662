import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerFromCgroup, containerFromCgroupPath, createContainerResolver, readContainerOf } from '../../src/host/container.ts';
import { containerAttributes } from '../../src/telemetry/attributes.ts';
import { startTimeFromStat } from '../../src/host/proc.ts';

const ID = '3f4a9c2e8b1d7f6a5c0e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f';
const ID2 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const UID = '5d1b1c8e-3f2a-4b7c-9d0e-1a2b3c4d5e6f';
const UID_ = UID.replaceAll('-', '_');

// A cgroup v1 host's /proc/PID/cgroup with every hierarchy mounted, all at `path` except rdma.
function v1(path: string, systemdPath = path): string {
  return [
    `12:pids:${path}`,
    `11:hugetlb:${path}`,
    `10:net_cls,net_prio:${path}`,
    `9:memory:${path}`,
    `8:cpuset:${path}`,
    `7:devices:${path}`,
    `6:freezer:${path}`,
    `5:perf_event:${path}`,
    `4:blkio:${path}`,
    '3:rdma:/',
    `2:cpu,cpuacct:${path}`,
    `1:name=systemd:${systemdPath}`,
    '',
  ].join('\n');
}

describe('containerFromCgroup: docker', () => {
  it('cgroup v1, cgroupfs driver (/docker/<id>), hybrid unified line elsewhere', () => {
    const text = v1(`/docker/${ID}`) + '0::/system.slice/containerd.service\n';
    assert.deepEqual(containerFromCgroup(text), { containerId: ID });
  });
  it('cgroup v1, systemd driver (docker-<id>.scope)', () => {
    assert.deepEqual(containerFromCgroup(v1(`/system.slice/docker-${ID}.scope`)), { containerId: ID });
  });
  it('cgroup v2, systemd driver', () => {
    assert.deepEqual(containerFromCgroup(`0::/system.slice/docker-${ID}.scope\n`), { containerId: ID });
  });
  it('cgroup v2, cgroupfs driver', () => {
    assert.deepEqual(containerFromCgroup(`0::/docker/${ID}\n`), { containerId: ID });
  });
  it('cgroup v2 read from inside another container with a private cgroup namespace', () => {
    assert.deepEqual(containerFromCgroup(`0::/../docker-${ID2}.scope\n`), { containerId: ID2 });
    assert.deepEqual(containerFromCgroup(`0::/../../docker/${ID2}\n`), { containerId: ID2 });
  });
  it('upper-case hex is normalized', () => {
    assert.deepEqual(containerFromCgroup(`0::/docker/${ID.toUpperCase()}\n`), { containerId: ID });
  });
});

describe('containerFromCgroup: kubernetes', () => {
  it('containerd, cgroup v2, systemd driver, burstable', () => {
    const text = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope\n`;
    assert.deepEqual(containerFromCgroup(text), { containerId: ID, podUid: UID });
  });
  it('containerd, cgroup v2, systemd driver, guaranteed (no QoS slice)', () => {
    const text = `0::/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope\n`;
    assert.deepEqual(containerFromCgroup(text), { containerId: ID, podUid: UID });
  });
  it('containerd, cgroup v1, systemd driver, with the colon form on name=systemd', () => {
    const text = v1(
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      `/system.slice/containerd.service/kubepods-besteffort-pod${UID_}.slice:cri-containerd:${ID}`,
    );
    assert.deepEqual(containerFromCgroup(text), { containerId: ID, podUid: UID });
    const colonOnly = `1:name=systemd:/system.slice/containerd.service/kubepods-besteffort-pod${UID_}.slice:cri-containerd:${ID}\n`;
    assert.deepEqual(containerFromCgroup(colonOnly), { containerId: ID, podUid: UID });
  });
  it('cgroupfs driver, cgroup v1 (/kubepods/<qos>/pod<uid>/<id>)', () => {
    assert.deepEqual(containerFromCgroup(v1(`/kubepods/burstable/pod${UID}/${ID}`)), { containerId: ID, podUid: UID });
    assert.deepEqual(containerFromCgroup(v1(`/kubepods/besteffort/pod${UID}/${ID}`)), { containerId: ID, podUid: UID });
  });
  it('cgroupfs driver, guaranteed pod (/kubepods/pod<uid>/<id>), cgroup v2', () => {
    assert.deepEqual(containerFromCgroup(`0::/kubepods/pod${UID}/${ID}\n`), { containerId: ID, podUid: UID });
  });
  it('dockershim under the systemd driver (docker-<id>.scope in the pod slice)', () => {
    const text = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/docker-${ID}.scope\n`;
    assert.deepEqual(containerFromCgroup(text), { containerId: ID, podUid: UID });
  });
  it('cri-o, cgroup v2', () => {
    const text = `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope\n`;
    assert.deepEqual(containerFromCgroup(text), { containerId: ID, podUid: UID });
  });
  it('cri-o conmon is in the pod but not in the container', () => {
    const text = `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-conmon-${ID}.scope\n`;
    assert.deepEqual(containerFromCgroup(text), { podUid: UID });
  });
  it('static pod: the uid is a 32-hex config hash', () => {
    const hash = 'd41d8cd98f00b204e9800998ecf8427e';
    const text = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${hash}.slice/cri-containerd-${ID}.scope\n`;
    assert.deepEqual(containerFromCgroup(text), { containerId: ID, podUid: hash });
  });
  it('seen through a private cgroup namespace (hostPID DaemonSet on cgroup v2)', () => {
    const text = `0::/../../../kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID2}.scope\n`;
    assert.deepEqual(containerFromCgroup(text), { containerId: ID2, podUid: UID });
  });
});

describe('containerFromCgroup: podman', () => {
  it('rootful, cgroup v2, with the nested "container" cgroup', () => {
    assert.deepEqual(containerFromCgroup(`0::/machine.slice/libpod-${ID}.scope/container\n`), { containerId: ID });
  });
  it('rootless, cgroup v2', () => {
    const text = `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope\n`;
    assert.deepEqual(containerFromCgroup(text), { containerId: ID });
  });
  it('cgroup v1, cgroupfs manager', () => {
    assert.deepEqual(containerFromCgroup(v1(`/libpod_parent/libpod-${ID}`)), { containerId: ID });
  });
  it('conmon is not the container', () => {
    assert.deepEqual(containerFromCgroup(`0::/machine.slice/libpod-conmon-${ID}.scope\n`), {});
  });
});

describe('containerFromCgroup: host processes and junk', () => {
  const hosts: Array<[string, string]> = [
    ['login session', '0::/user.slice/user-1000.slice/session-3.scope\n'],
    ['systemd user app scope with a UUID',
      '0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-8f3b2c1a-0d4e-4b5f-9a6c-7e8d9f0a1b2c.scope\n'],
    ['snap scope', '0::/user.slice/user-1000.slice/user@1000.service/app.slice/snap.firefox.firefox-5b7d2f0e-1c3a-4e5f-8a9b-0c1d2e3f4a5b.scope\n'],
    ['dockerd itself', '0::/system.slice/docker.service\n'],
    ['containerd itself', '0::/system.slice/containerd.service\n'],
    ['kubelet', '0::/system.slice/kubelet.service\n'],
    ['init', '0::/init.scope\n'],
    ['root cgroup', '0::/\n'],
    ['cgroup v1 host process', v1('/user.slice/user-0.slice/session-1.scope')],
    ['cgroup v1 all at root', v1('/')],
    ['a 32-hex sandbox directory is no container id', '4:memory:/process_api/dc146b275772177aaf0c84df3445df0a\n0::/\n'],
    ['kubepods QoS slice without a pod', '0::/kubepods.slice/kubepods-burstable.slice\n'],
    ['empty', ''],
    ['garbage', 'not a cgroup file\n::\n'],
  ];
  for (const [name, text] of hosts) {
    it(name, () => assert.deepEqual(containerFromCgroup(text), {}));
  }
  it('63 or 65 hex digits are not a container id', () => {
    assert.deepEqual(containerFromCgroupPath(`/docker/${ID.slice(1)}`), {});
    assert.deepEqual(containerFromCgroupPath(`/docker/${ID}0`), {});
  });
});

describe('containerAttributes', () => {
  it('uses the semantic-convention names', () => {
    assert.deepEqual(containerAttributes({ containerId: ID, podUid: UID }), {
      'container.id': ID,
      'k8s.pod.uid': UID,
    });
    assert.deepEqual(containerAttributes({}), {});
  });
});

describe('startTimeFromStat', () => {
  it('reads field 22 even when comm holds spaces and parentheses', () => {
    const stat = '4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 12345678 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0';
    assert.equal(startTimeFromStat(stat), '987654');
  });
  it('undefined for junk', () => {
    assert.equal(startTimeFromStat('garbage'), undefined);
    assert.equal(startTimeFromStat('1 (x) S 1'), undefined);
  });
});

describe('createContainerResolver', () => {
  function fakeProc(files: Record<string, string>) {
    const reads: string[] = [];
    const readFile = (p: string): string => {
      reads.push(p);
      const v = files[p];
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return v;
    };
    return { reads, readFile };
  }
  const stat = (pid: number, start: number) =>
    `${pid} (leaky) S 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 ${start} 1 1 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0`;

  it('reads cgroup once per pid and start time', () => {
    const { reads, readFile } = fakeProc({
      '/p/10/stat': stat(10, 500),
      '/p/10/cgroup': `0::/system.slice/docker-${ID}.scope\n`,
    });
    const r = createContainerResolver({ procRoot: '/p', readFile });
    assert.deepEqual(r.lookup(10), { containerId: ID });
    assert.deepEqual(r.lookup(10), { containerId: ID });
    assert.equal(reads.filter((p) => p.endsWith('/cgroup')).length, 1);
    // With the start time given, stat is not read at all.
    const before = reads.length;
    assert.deepEqual(r.lookup(10, 500), { containerId: ID });
    assert.equal(reads.length, before);
    assert.equal(r.size, 1);
  });

  it('a reused pid (new start time) is looked up afresh', () => {
    const files: Record<string, string> = {
      '/p/10/cgroup': `0::/system.slice/docker-${ID}.scope\n`,
    };
    const { readFile } = fakeProc(files);
    const r = createContainerResolver({ procRoot: '/p', readFile });
    assert.deepEqual(r.lookup(10, 500), { containerId: ID });
    files['/p/10/cgroup'] = '0::/user.slice/user-0.slice/session-1.scope\n';
    assert.deepEqual(r.lookup(10, 900), {});
    assert.deepEqual(r.lookup(10, 500), { containerId: ID });
  });

  it('returns {} when the process is gone or unreadable, and does not cache that', () => {
    const files: Record<string, string> = {};
    const { readFile } = fakeProc(files);
    const r = createContainerResolver({ procRoot: '/p', readFile });
    assert.deepEqual(r.lookup(77), {});
    assert.deepEqual(r.lookup(77, 1), {});
    assert.equal(r.size, 0);
    files['/p/77/cgroup'] = `0::/docker/${ID2}\n`;
    assert.deepEqual(r.lookup(77, 1), { containerId: ID2 });
  });

  it('rejects nonsense pids without reading', () => {
    const { reads, readFile } = fakeProc({});
    const r = createContainerResolver({ readFile });
    assert.deepEqual(r.lookup(0), {});
    assert.deepEqual(r.lookup(-5), {});
    assert.deepEqual(r.lookup(1.5), {});
    assert.equal(reads.length, 0);
  });

  it('evicts the oldest entry past maxEntries', () => {
    const files: Record<string, string> = {};
    for (let pid = 1; pid <= 4; pid++) files[`/p/${pid}/cgroup`] = `0::/docker/${ID}\n`;
    const { reads, readFile } = fakeProc(files);
    const r = createContainerResolver({ procRoot: '/p', readFile, maxEntries: 3 });
    for (let pid = 1; pid <= 4; pid++) r.lookup(pid, 1);
    assert.equal(r.size, 3);
    reads.length = 0;
    r.lookup(1, 1); // evicted: read again
    r.lookup(4, 1); // still cached
    assert.deepEqual(reads, ['/p/1/cgroup']);
    r.clear();
    assert.equal(r.size, 0);
  });

  it('cached results cannot be corrupted by a caller', () => {
    const { readFile } = fakeProc({ '/p/3/cgroup': `0::/docker/${ID}\n` });
    const r = createContainerResolver({ procRoot: '/p', readFile });
    const first = r.lookup(3, 1);
    assert.throws(() => {
      (first as { containerId?: string }).containerId = 'x';
    }, TypeError);
    assert.deepEqual(r.lookup(3, 1), { containerId: ID });
  });
});

describe('readContainerOf (real /proc)', () => {
  it('answers for this process without throwing, and {} for a pid that cannot exist', () => {
    const self = readContainerOf(process.pid);
    assert.equal(typeof self, 'object');
    assert.deepEqual(readContainerOf(2 ** 22 + 12345), {});
  });
});
