// Data-point and span attributes shared by the probes' exporters.
import type { Attributes } from '@opentelemetry/api';
import type { ContainerInfo } from '../host/container.ts';
import { ATTR } from './semconv.ts';

/** container.id and k8s.pod.uid of a process's container; empty for a host process. */
export function containerAttributes(info: ContainerInfo): Record<string, string> {
  const attrs: Record<string, string> = {};
  if (info.containerId !== undefined) attrs[ATTR.CONTAINER_ID] = info.containerId;
  if (info.podUid !== undefined) attrs[ATTR.K8S_POD_UID] = info.podUid;
  return attrs;
}

/** process.pid, process.executable.name and the container of a process. */
export function processAttributes(pid: number, executable: string, container: ContainerInfo): Attributes {
  return { [ATTR.PROCESS_PID]: pid, [ATTR.PROCESS_EXECUTABLE_NAME]: executable, ...containerAttributes(container) };
}
