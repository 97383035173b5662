// Each sample names its container, read once per process incarnation (pid and start time) and
// forgotten at its exit record: the iterator reports every process, so a lookup per sample
// would read /proc/PID/cgroup for every changed process every interval.
import { readContainerOf, type ContainerInfo } from '../../host/container.ts';

export type ContainerLookup = (pid: number, startNs: bigint) => ContainerInfo;

interface ProcessRecord {
  kind: 'sample' | 'exit';
  pid: number;
  startNs: bigint;
  container?: ContainerInfo;
}

export function withContainers<R extends ProcessRecord>(emit: (r: R) => void, lookup: ContainerLookup = readContainerOf): (r: R) => void {
  const known = new Map<number, { startNs: bigint; container: ContainerInfo }>();
  return (r) => {
    if (r.kind === 'exit') {
      if (known.get(r.pid)?.startNs === r.startNs) known.delete(r.pid);
    } else {
      let k = known.get(r.pid);
      if (k?.startNs !== r.startNs) known.set(r.pid, (k = { startNs: r.startNs, container: lookup(r.pid, r.startNs) }));
      r.container = k.container;
    }
    emit(r);
  };
}
