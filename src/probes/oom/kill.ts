// From a decoded kill event to the record's kernel-side facts: the victim, the trigger, the
// constraint and the memcg it concerns, order/gfp where known, the node's memory, the lead-up.
// Pure: what needs the file system (paths, /proc) comes in through KillContext.
import { zoneInfo } from '../../runtime/record.ts';
import { OOM_FLAG, OOM_HOOK, KERNEL_CONSTRAINTS, OOM_LEADUP_LEN, type OomConstraint, type OomKill, type OomMemcg, type OomNodeState, type OomRetry, type RawKillEvent, type RawMemcg, type RawNode, type RawRetry } from './record.ts';

export interface KillContext {
  pageSize: number;
  /** 1: memcgs are cgroup v1 (memsw is memory+swap, and its limit OOMs too); 2: unified. */
  memcgVersion: 1 | 2;
  resolvePath(cgroupId: number): string | undefined;
  gfpNames?(gfp: number): string;
}

/** compact_retry's priority and result as the kernel's print fmt names them. */
const COMPACT_PRIORITY: Record<number, string> = { 0: 'COMPACT_PRIO_SYNC_FULL', 1: 'COMPACT_PRIO_SYNC_LIGHT', 2: 'COMPACT_PRIO_ASYNC' };
const COMPACT_RESULT: Record<number, string> = { 1: 'failed', 2: 'withdrawn', 3: 'progress' };

/** A page_counter's max at or above PAGE_COUNTER_MAX (LONG_MAX / PAGE_SIZE) means no limit. */
export function unlimited(maxPages: number, pageSize: number): boolean {
  return maxPages >= Math.floor(2 ** 63 / pageSize) - 1;
}

/** A charge fails when usage + nr_pages > max; the largest common charge is a PMD-sized THP. */
export function slackPages(pageSize: number): number {
  return Math.max(1, (2 << 20) / pageSize);
}

function atLimit(m: RawMemcg, ctx: KillContext): boolean {
  const slack = slackPages(ctx.pageSize);
  if (!unlimited(m.max, ctx.pageSize) && m.usage + slack >= m.max) return true;
  // v1's memory+swap limit OOMs as well; v2's swap.max only stops swapping
  return ctx.memcgVersion === 1 && !unlimited(m.swapMax, ctx.pageSize) && m.swapUsage + slack >= m.swapMax;
}

function memcgOf(m: RawMemcg, ctx: KillContext): OomMemcg {
  const path = ctx.resolvePath(m.cgroupId);
  return {
    cgroupId: m.cgroupId,
    ...(path !== undefined ? { path } : {}),
    usageBytes: m.usage * ctx.pageSize,
    ...(unlimited(m.max, ctx.pageSize) ? {} : { limitBytes: m.max * ctx.pageSize }),
    swapUsageBytes: m.swapUsage * ctx.pageSize,
    ...(unlimited(m.swapMax, ctx.pageSize) ? {} : { swapLimitBytes: m.swapMax * ctx.pageSize }),
    oomKills: m.oomKill,
  };
}

/** The memcg whose limit was hit: the first level at its limit going up from the trigger's own
 * memcg (the victim must be below it), else from the victim's (a limit lowered by another task). */
export function findOomMemcg(e: RawKillEvent, ctx: KillContext): RawMemcg | undefined {
  const trig = e.triggerMemcg.m.slice(0, Math.min(e.triggerMemcg.depth, e.triggerMemcg.m.length));
  const vict = e.victimMemcg.m.slice(0, Math.min(e.victimMemcg.depth, e.victimMemcg.m.length));
  const victimIds = new Set(vict.map((m) => m.cgroupId));
  // the root memcg (the last level) has no limit
  const hit = trig.slice(0, -1).find((m) => atLimit(m, ctx));
  if (hit && (vict.length === 0 || victimIds.has(hit.cgroupId))) return hit;
  return vict.slice(0, -1).find((m) => atLimit(m, ctx));
}

export function decodeRetry(r: RawRetry, zoneNames: readonly string[]): OomRetry {
  if (r.kind === 2) {
    return {
      tsNs: r.tsNs,
      kind: 'compact_retry',
      order: r.order,
      priority: COMPACT_PRIORITY[r.priority] ?? String(r.priority),
      result: COMPACT_RESULT[r.result] ?? String(r.result),
      retries: r.retries,
      maxRetries: r.maxRetries,
      shouldRetry: r.shouldRetry !== 0,
    };
  }
  const zoneName = zoneNames[r.zoneIdx];
  return {
    tsNs: r.tsNs,
    kind: 'reclaim_retry_zone',
    order: r.order,
    node: r.node,
    zoneIndex: r.zoneIdx,
    ...(zoneName ? { zoneName } : {}),
    noProgressLoops: r.noProgressLoops,
    wmarkCheck: r.wmarkCheck !== 0,
    reclaimablePages: r.reclaimable,
    availablePages: r.available,
    minWmarkPages: r.minWmark,
  };
}

/** The ring's entries, oldest first. */
export function leadupRetries(total: number, ring: readonly RawRetry[], zoneNames: readonly string[]): OomRetry[] {
  const n = Math.min(total, OOM_LEADUP_LEN);
  const start = total > OOM_LEADUP_LEN ? total % OOM_LEADUP_LEN : 0;
  const out: OomRetry[] = [];
  for (let i = 0; i < n; i++) out.push(decodeRetry(ring[(start + i) % OOM_LEADUP_LEN]!, zoneNames));
  return out;
}

/** The node's free memory and si_mem_available()'s estimate for it (lowmem_reserve left out). */
export function nodeState(n: RawNode, pageSize: number): OomNodeState {
  const zones = n.zones.slice(0, Math.min(n.nrZones, n.zones.length)).map(zoneInfo);
  const free = zones.reduce((a, z) => a + z.free, 0);
  const low = zones.reduce((a, z) => a + z.low, 0);
  const reserve = zones.reduce((a, z) => a + z.high, 0);
  const reclaimable = n.slabReclaimable + n.miscReclaimable;
  const available = free - reserve + n.fileLru - Math.min(n.fileLru / 2, low) + reclaimable - Math.min(reclaimable / 2, low);
  return { node: n.node, freeBytes: free * pageSize, availableBytes: Math.max(0, Math.round(available)) * pageSize, zones };
}

/** A retry this long before the kill no longer says which allocation failed. */
const RETRY_MAX_AGE_NS = 5_000_000_000n;

/** The kernel-side record; topProcesses, containers and reap are the source's to fill. */
export function interpretKill(e: RawKillEvent, ctx: KillContext): OomKill {
  const ps = ctx.pageSize;
  const node = nodeState(e.node, ps);
  const zoneNames = node.zones.map((z) => z.name);
  const retries = leadupRetries(e.leadup.total, e.leadup.r, zoneNames);
  const hasCtl = (e.flags & OOM_FLAG.CTL) !== 0;
  const fromTask = (e.flags & OOM_FLAG.VICTIM_TASK) !== 0;
  const fromTp = (e.flags & OOM_FLAG.TP_FIELDS) !== 0;
  const haveRss = (fromTask && (e.flags & OOM_FLAG.NO_MM) === 0) || fromTp;

  let constraint: OomConstraint;
  let constraintSource: OomKill['constraintSource'];
  let memcg: OomMemcg | undefined;
  const victimOwn = e.victimMemcg.depth > 0 ? memcgOf(e.victimMemcg.m[0]!, ctx) : undefined;
  if (hasCtl) {
    constraint = KERNEL_CONSTRAINTS[e.ctl.constraint] ?? 'global';
    constraintSource = 'oom_control';
    const id = e.ctl.memcgCgroupId;
    const chain = [...e.triggerMemcg.m.slice(0, e.triggerMemcg.depth), ...e.victimMemcg.m.slice(0, e.victimMemcg.depth)];
    const m = id ? chain.find((c) => c.cgroupId === id) : undefined;
    memcg = m ? memcgOf(m, ctx) : id ? { cgroupId: id, ...pathOf(id, ctx), usageBytes: 0, swapUsageBytes: 0, oomKills: 0 } : victimOwn;
  } else {
    const hit = findOomMemcg(e, ctx);
    constraint = hit ? 'memcg' : 'global';
    constraintSource = hit ? 'memcg_limit' : 'no_memcg_at_limit';
    memcg = hit ? memcgOf(hit, ctx) : victimOwn;
  }

  const last = retries.at(-1);
  let order: number | undefined;
  let orderSource: OomKill['orderSource'] = 'unknown';
  if (hasCtl) {
    order = e.ctl.order;
    orderSource = 'oom_control';
  } else if (last && e.hdr.tsNs - last.tsNs <= RETRY_MAX_AGE_NS) {
    order = last.order;
    orderSource = 'last_retry';
  }

  const kb = (pages: number) => pages * ps;
  return {
    kind: 'kill',
    tsNs: e.hdr.tsNs,
    hook: OOM_HOOK[e.hook as 1 | 2] ?? 'tracepoint',
    victim: {
      pid: e.victimTgid || e.victimPid,
      tid: e.victimPid,
      comm: e.victimComm,
      ...(fromTask || fromTp ? { uid: e.uid, oomScoreAdj: e.oomScoreAdj } : {}),
      source: fromTask ? 'task' : fromTp ? 'tracepoint' : 'none',
      ...(haveRss
        ? {
            totalVmBytes: kb(e.totalVm),
            rssAnonBytes: kb(e.rssAnon),
            rssFileBytes: kb(e.rssFile),
            rssShmemBytes: kb(e.rssShmem),
            ...(fromTask ? { swapBytes: kb(e.swapEnts) } : {}),
            pageTablesBytes: e.pgtablesBytes,
          }
        : {}),
      container: {},
    },
    trigger: { pid: e.triggerTgid, tid: e.triggerPid, comm: e.triggerComm, container: {} },
    constraint,
    constraintSource,
    ...(memcg ? { memcg } : {}),
    ...(victimOwn ? { victimMemcg: victimOwn } : {}),
    ...(order !== undefined ? { order } : {}),
    ...(hasCtl ? { gfp: e.ctl.gfp, ...(ctx.gfpNames ? { gfpNames: ctx.gfpNames(e.ctl.gfp) } : {}), totalPages: e.ctl.totalpages, chosenPoints: e.ctl.chosenPoints } : {}),
    orderSource,
    node,
    leadup: { total: e.leadup.total, retries },
    topProcesses: [],
    topScope: constraint === 'memcg' ? 'memcg' : 'host',
    reap: {},
  };
}

function pathOf(id: number, ctx: KillContext): { path?: string } {
  const path = ctx.resolvePath(id);
  return path === undefined ? {} : { path };
}
