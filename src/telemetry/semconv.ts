// Every metric and attribute name we emit, in one place. Names marked semconv follow the
// OpenTelemetry semantic conventions exactly; the rest live under memwatcher.*.

export const ATTR = {
  PROCESS_PID: 'process.pid', // semconv
  PROCESS_EXECUTABLE_NAME: 'process.executable.name', // semconv
  PROCESS_COMMAND_LINE: 'process.command_line', // semconv
  CONTAINER_ID: 'container.id', // semconv
  K8S_POD_UID: 'k8s.pod.uid', // semconv
  CODE_STACKTRACE: 'code.stacktrace', // semconv
  CODE_FUNCTION_NAME: 'code.function.name', // semconv
  CODE_FILE_PATH: 'code.file.path', // semconv
  CODE_LINE_NUMBER: 'code.line.number', // semconv
  SLAB_STATE: 'system.memory.linux.slab.state', // semconv
  SYSTEM_MEMORY_STATE: 'system.memory.state', // semconv
  PROBE: 'memwatcher.probe',
  PROBE_STRATEGY: 'memwatcher.probe.strategy',
  NUMA_NODE: 'memwatcher.numa.node',
  LRU_LIST: 'memwatcher.lru.list',
  RSS_KIND: 'memwatcher.rss.kind',
  ALLOC_ORDER: 'memwatcher.alloc.order',
  ALLOC_GFP: 'memwatcher.alloc.gfp',
  ZONE_NAME: 'memwatcher.zone.name',
  ZONE_WATERMARK_LEVEL: 'memwatcher.zone.watermark.level',
  ZONE_PAGE_STATE: 'memwatcher.zone.page.state',
  ALLOC_GFP_MASK: 'memwatcher.alloc.gfp_mask',
  ALLOC_MIGRATETYPE: 'memwatcher.alloc.migratetype',
  ZONE_WATERMARK_MIN: 'memwatcher.zone.watermark.min',
  ZONE_WATERMARK_LOW: 'memwatcher.zone.watermark.low',
  ZONE_WATERMARK_HIGH: 'memwatcher.zone.watermark.high',
  ZONE_WATERMARK_BOOST: 'memwatcher.zone.watermark.boost',
  ZONE_PAGES_FREE: 'memwatcher.zone.pages.free',
  ZONE_PAGES_MANAGED: 'memwatcher.zone.pages.managed',
  ZONE_PAGES_PRESENT: 'memwatcher.zone.pages.present',
  THREAD_ID: 'thread.id', // semconv
  THREAD_NAME: 'thread.name', // semconv
  RECLAIM_SOURCE: 'memwatcher.reclaim.source',
  MEMLEAK_BYTES: 'memwatcher.memleak.bytes',
  MEMLEAK_ALLOCATIONS: 'memwatcher.memleak.allocations',
  MEMLEAK_STACKS: 'memwatcher.memleak.stacks',
  MEMLEAK_STACK_ID: 'memwatcher.memleak.stack_id',
  MEMLEAK_PROCESS_END: 'memwatcher.memleak.process_end',
  MEMLEAK_MIN_AGE: 'memwatcher.memleak.min_age_ms',
  OOM_CONSTRAINT: 'memwatcher.oom.constraint',
  MEMCG_EVENT: 'memwatcher.memcg.event',
  PRESSURE_SCOPE: 'memwatcher.pressure.scope',
  CGROUP_PATH: 'memwatcher.cgroup.path',
  USER_ID: 'user.id', // semconv
  // growth
  GROWTH_STACK_ID: 'memwatcher.growth.stack_id',
  GROWTH_BYTES: 'memwatcher.growth.bytes',
  GROWTH_MAPPED: 'memwatcher.growth.mapped',
  GROWTH_RSS_TREND: 'memwatcher.growth.rss_trend',
  GROWTH_INTERVALS: 'memwatcher.growth.intervals',
  GROWTH_FAULT_SAMPLE: 'memwatcher.growth.fault_sample',
} as const;

export const METRIC = {
  // procstat
  PROCESS_MEMORY_USAGE: 'process.memory.usage', // semconv
  PROCESS_MEMORY_VIRTUAL: 'process.memory.virtual', // semconv
  PROCESS_RSS: 'memwatcher.process.memory.rss',
  PROCESS_PEAK_RSS: 'memwatcher.process.memory.peak_rss',
  PROCESS_SWAP: 'memwatcher.process.memory.swap',
  PROCESS_DATA: 'memwatcher.process.memory.data',
  PROCESS_STACK: 'memwatcher.process.memory.stack',
  PROCESS_PAGE_TABLES: 'memwatcher.process.memory.page_tables',
  // sysstat
  SYSTEM_LRU: 'memwatcher.system.memory.lru',
  SYSTEM_DIRTY: 'memwatcher.system.memory.dirty',
  SYSTEM_WRITEBACK: 'memwatcher.system.memory.writeback',
  SYSTEM_WRITEBACK_TMP: 'memwatcher.system.memory.writeback_tmp',
  SYSTEM_ANON: 'memwatcher.system.memory.anon',
  SYSTEM_MAPPED: 'memwatcher.system.memory.mapped',
  SYSTEM_KERNEL_RECLAIMABLE: 'memwatcher.system.memory.kernel_reclaimable',
  SYSTEM_ANON_THP: 'memwatcher.system.memory.anon_thp',
  SYSTEM_SHMEM_THP: 'memwatcher.system.memory.shmem_thp',
  SYSTEM_NFS_UNSTABLE: 'memwatcher.system.memory.nfs_unstable',
  SYSTEM_SHARED: 'system.memory.linux.shared', // semconv
  SYSTEM_SLAB: 'system.memory.linux.slab.usage', // semconv
  SYSTEM_MEMORY_USAGE: 'system.memory.usage', // semconv
  SYSTEM_MEMORY_UTILIZATION: 'system.memory.utilization', // semconv
  SYSTEM_MEMORY_LIMIT: 'system.memory.limit', // semconv
  SYSTEM_MEMORY_AVAILABLE: 'system.memory.linux.available', // semconv
  // paf
  PAGE_ALLOC_FAILURES: 'memwatcher.page_alloc.failures',
  PAGE_ALLOC_RETRIES: 'memwatcher.page_alloc.reclaim_retries',
  PAGE_ALLOC_SPANS_DROPPED: 'memwatcher.page_alloc.spans_dropped',
  ZONE_WATERMARK: 'memwatcher.zone.watermark',
  ZONE_PAGES: 'memwatcher.zone.pages',
  // pr
  RECLAIM_SCANNED: 'memwatcher.reclaim.scanned',
  RECLAIM_RECLAIMED: 'memwatcher.reclaim.reclaimed',
  RECLAIM_DIRTY: 'memwatcher.reclaim.dirty',
  RECLAIM_CONGESTED: 'memwatcher.reclaim.congested',
  RECLAIM_WRITEBACK: 'memwatcher.reclaim.writeback',
  RECLAIM_IMMEDIATE: 'memwatcher.reclaim.immediate',
  RECLAIM_ACTIVATED: 'memwatcher.reclaim.activated',
  RECLAIM_STALL: 'memwatcher.reclaim.stall.duration',
  RECLAIM_STALL_RECLAIMED: 'memwatcher.reclaim.stall.reclaimed',
  // memleak
  MEMLEAK_OUTSTANDING: 'memwatcher.memleak.outstanding',
  MEMLEAK_OUTSTANDING_COUNT: 'memwatcher.memleak.outstanding.count',
  // oom
  OOM_KILLS: 'memwatcher.oom.kills',
  MEMCG_EVENTS: 'memwatcher.memcg.events',
  PRESSURE_STALL: 'memwatcher.memory.pressure.stall',
  // growth
  GROWTH: 'memwatcher.growth',
  // self
  EVENTS_RECEIVED: 'memwatcher.events.received',
  EVENTS_DROPPED: 'memwatcher.events.dropped',
  PROBE_ATTACHED: 'memwatcher.probe.attached',
  TELEMETRY_DROPPED: 'memwatcher.telemetry.dropped',
} as const;

export const SPAN = {
  MEMLEAK_REPORT: 'memleak.report',
  MEMLEAK_STACK: 'memleak.stack',
  PAGE_ALLOC_FAILURE: 'page_alloc.failure',
  OOM_KILL: 'oom.kill',
  MEMORY_GROWTH: 'memory.growth',
  MEMORY_GROWTH_STACK: 'memory.growth.stack',
} as const;

export const UNIT = {
  BYTES: 'By',
  RATIO: '1',
  PAGES: '{page}',
  SECONDS: 's',
  FAILURES: '{failure}',
  ALLOCATIONS: '{allocation}',
  EVENTS: '{event}',
  PROBES: '{probe}',
  SPANS: '{span}',
  RETRIES: '{retry}',
  KILLS: '{kill}',
} as const;
