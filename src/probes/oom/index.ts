// oom (-k): OOM kills and memory pressure. What the rest of the program uses.
export { oomProbe, OOM_PROBE_NAME, OOM_STRATEGIES, oomSettings, type OomSettings } from './definition.ts';
export { OomSource, type OomSourceOptions } from './source.ts';
export {
  decodeOomEvent,
  OOM_KILL_RECORD_SIZE,
  OOM_REAP_RECORD_SIZE,
  type OomConstraint,
  type OomKill,
  type OomMemcg,
  type OomNodeState,
  type OomProcessRss,
  type OomReap,
  type OomRecord,
  type OomRetry,
  type OomZone,
} from './record.ts';
export { CgroupPathResolver, readCgroupMounts, memcgRoot, topByRss } from './cgroup.ts';
