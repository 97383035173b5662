// Container attribution: which container (and Kubernetes pod) a process runs in, read from
// /proc/PID/cgroup. Pure parsing first, then a cached reader keyed by pid and start time.
//
// The cgroup path carries the runtime's container id in one of its components:
//   docker (cgroupfs)          /docker/<id>
//   docker (systemd)           /system.slice/docker-<id>.scope
//   containerd / CRI           .../cri-containerd-<id>.scope, or on cgroup v1 with the systemd
//                              driver the component "kubepods-…-pod<uid>.slice:cri-containerd:<id>"
//   cri-o                      .../crio-<id>.scope (crio-conmon-<id>.scope is the monitor, not
//                              the container)
//   podman                     .../libpod-<id>.scope (libpod-conmon-<id>.scope likewise)
//   kubernetes (cgroupfs)      /kubepods/<qos>/pod<uid>/<id>, /kubepods/pod<uid>/<id>
//   kubernetes (systemd)       /kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/…
//                              where the uid's dashes are written as underscores.
// Paths are relative to the reader's cgroup namespace: read from inside a container with a
// private cgroup namespace, another container's path looks like /../../system.slice/docker-<id>.scope,
// which parses the same way since only the components matter.
import { readFileSync } from 'node:fs';
import { startTimeFromStat } from './proc.ts';

export interface ContainerInfo {
  containerId?: string;
  podUid?: string;
}

// A runtime prefix (docker-, cri-containerd-, crio-, libpod-, …) or none, 64 hex digits, and an
// optional systemd unit suffix.
const CONTAINER_COMPONENT = /^(?:([a-z][a-z0-9-]*)-)?([0-9a-f]{64})(?:\.scope)?$/;
// Pod UID: a UUID (dashes, or underscores under the systemd driver) or, for static pods, a
// 32-hex-digit config hash.
const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}';
const POD_SYSTEMD = new RegExp(`^kubepods(?:-[a-z]+)?-pod(${UID})\\.slice$`);
const POD_CGROUPFS = new RegExp(`^pod(${UID})$`);

function containerIdOf(component: string): string | undefined {
  const m = CONTAINER_COMPONENT.exec(component);
  if (!m) return undefined;
  const prefix = m[1];
  // conmon (cri-o, podman) runs beside the container, in a scope named after it.
  if (prefix !== undefined && /(?:^|-)conmon$/.test(prefix)) return undefined;
  return m[2];
}

function podUidOf(component: string): string | undefined {
  const m = POD_SYSTEMD.exec(component) ?? POD_CGROUPFS.exec(component);
  return m?.[1]?.replaceAll('_', '-');
}

/** Parses one cgroup path (the part after "hierarchy:controllers:"). */
export function containerFromCgroupPath(path: string): ContainerInfo {
  const out: ContainerInfo = {};
  // "/" separates directories; ":" separates the parts of cgroup v1 systemd-driver names such
  // as "kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>".
  const components = path.toLowerCase().split(/[/:]/);
  for (const c of components) {
    if (c === '' || c === '..') continue;
    const pod = podUidOf(c);
    if (pod !== undefined) out.podUid = pod;
    const id = containerIdOf(c);
    // The deepest match wins: nested cgroups (podman's ".../libpod-<id>.scope/container")
    // keep the id of the scope above them.
    if (id !== undefined) out.containerId = id;
  }
  return out;
}

/**
 * Parses the text of /proc/PID/cgroup, cgroup v1 ("N:controllers:/path", one line per
 * hierarchy) or v2 ("0::/path"). The first line that names a container id (and pod uid) wins;
 * on a hybrid host the v2 line and the v1 lines agree.
 */
export function containerFromCgroup(text: string): ContainerInfo {
  const out: ContainerInfo = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const info = containerFromCgroupPath(line.slice(second + 1));
    if (out.containerId === undefined && info.containerId !== undefined) out.containerId = info.containerId;
    if (out.podUid === undefined && info.podUid !== undefined) out.podUid = info.podUid;
    if (out.containerId !== undefined && out.podUid !== undefined) break;
  }
  return out;
}

export interface ContainerResolver {
  /**
   * The container of process `pid`. `startTime` (field 22 of /proc/PID/stat), when the caller
   * already has it, saves reading stat; it keys the cache so a reused pid is never attributed
   * to its previous owner's container. Returns {} for host processes and on any read error.
   */
  lookup(pid: number, startTime?: string | number | bigint): ContainerInfo;
  /** Entries held now (for tests and self-metrics). */
  readonly size: number;
  clear(): void;
}

export interface ContainerResolverOptions {
  /** Where procfs is mounted; "/proc" unless the host's is mounted elsewhere. */
  procRoot?: string;
  /** Cache capacity; the oldest entries go first. */
  maxEntries?: number;
  /** File reader (tests). */
  readFile?: (path: string) => string;
}

export function createContainerResolver(opts: ContainerResolverOptions = {}): ContainerResolver {
  const procRoot = opts.procRoot ?? '/proc';
  const maxEntries = Math.max(1, opts.maxEntries ?? 4096);
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const cache = new Map<string, ContainerInfo>();

  const tryRead = (path: string): string | undefined => {
    try {
      return readFile(path);
    } catch {
      return undefined;
    }
  };

  return {
    lookup(pid, startTime) {
      if (!Number.isInteger(pid) || pid <= 0) return {};
      let start = startTime === undefined ? undefined : String(startTime);
      if (start === undefined) {
        const stat = tryRead(`${procRoot}/${pid}/stat`);
        if (stat === undefined) return {};
        start = startTimeFromStat(stat);
      }
      const key = start === undefined ? undefined : `${pid}:${start}`;
      if (key !== undefined) {
        const hit = cache.get(key);
        if (hit !== undefined) return hit;
      }
      const text = tryRead(`${procRoot}/${pid}/cgroup`);
      if (text === undefined) return {};
      const info = Object.freeze(containerFromCgroup(text));
      if (key !== undefined) {
        if (cache.size >= maxEntries) {
          const oldest = cache.keys().next();
          if (!oldest.done) cache.delete(oldest.value);
        }
        cache.set(key, info);
      }
      return info;
    },
    get size() {
      return cache.size;
    },
    clear() {
      cache.clear();
    },
  };
}

const defaultResolver = createContainerResolver();

/** The container of process `pid` as seen in /proc; {} when none or unreadable. Cached. */
export function readContainerOf(pid: number, startTime?: string | number | bigint): ContainerInfo {
  return defaultResolver.lookup(pid, startTime);
}
