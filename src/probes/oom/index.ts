// oom (-k): OOM kills and memory pressure. What the rest of the program uses.
export { oomProbe, OOM_PROBE_NAME, OOM_STRATEGIES, oomSettings, type OomSettings } from './definition.ts';
export { OomSource, type OomSourceOptions } from './source.ts';
export {
  decodeOomEvent,
  OOM_KILL_RECORD_SIZE,
  OOM_REAP_RECORD_SIZE,
  type CgroupPressure,
  type MemcgEvents,
  type OomConstraint,
  type OomKill,
  type OomMemcg,
  type OomNodeState,
  type OomPressure,
  type OomProcessRss,
  type OomReap,
  type OomRecord,
  type OomRetry,
  type OomZone,
  type PressureTotals,
} from './record.ts';
export { PressureReader, parsePsi, parseMemoryEvents, parseOomControl, readHostPressure } from './pressure.ts';
export { CgroupPathResolver, readCgroupMounts, memcgRoot, topByRss } from './cgroup.ts';
