// One traced process: its identity, hooks, latest maps snapshot (to symbolize after it is
// gone) and lifecycle: armed (--memleak-command, before exec) -> traced -> ended.
import type { BpfLink } from '../../libbpf/object.ts';
import { readContainerOf, type ContainerInfo } from '../../host/container.ts';
import { readProcessMaps, type ProcessMaps } from '../../host/maps.ts';
import { commandLine, isSameProcess, processIdentity, processName, type ProcessIdentity } from '../../host/proc.ts';
import type { AllocatorPlan, Placement } from './allocator.ts';

export type TargetState = 'armed' | 'traced' | 'ended';

/** How often a live target's maps are re-read (dlopen'd libraries appear in later reports). */
const MAPS_REFRESH_MS = 1000;
/** A process just started under trace maps its libraries now: re-read often for this long. */
export const YOUNG_MS = 1000;
const YOUNG_REFRESH_MS = 20;
/**
 * Reading maps blocks the event loop (every probe's drain): 60,000 mappings take about 0.2 s to
 * read and parse. Re-read no sooner than this many times the last read took, so that reading
 * never takes more than a twentieth of the time, however many mappings a process makes.
 */
const READ_COST_FACTOR = 20;

export class Target {
  readonly pid: number;
  /** Where each allocator function is hooked, and what was (attachUserHooks). */
  readonly plan: AllocatorPlan;
  attached: Placement[] = [];
  links: BpfLink[] = [];
  state: TargetState;
  ended?: 'exited' | 'exec';
  #identity: ProcessIdentity | undefined;
  #maps: ProcessMaps | undefined;
  #mapsAt = 0;
  #readCostMs = 0;
  #tracedAt = 0;
  #executable = '';
  #commandLine = '';
  #container: ContainerInfo = {};

  /** Whether the kernel side still traces this process (false once it exec'd). */
  readonly #tracedInKernel: () => boolean;

  /** `name`: what to call it should it end before /proc tells (a command that exits at once). */
  constructor(pid: number, plan: AllocatorPlan, armed: boolean, tracedInKernel: () => boolean, name = '') {
    this.pid = pid;
    this.plan = plan;
    this.#executable = name;
    this.#tracedInKernel = tracedInKernel;
    this.state = armed ? 'armed' : 'traced';
    if (!armed) this.#learn();
  }

  get executable(): string {
    return this.#executable;
  }

  /** /proc/PID/cmdline when tracing began, arguments joined by spaces. */
  get commandLine(): string {
    return this.#commandLine;
  }

  get container(): ContainerInfo {
    return this.#container;
  }

  get maps(): ProcessMaps | undefined {
    return this.#maps;
  }

  /** The armed process exec'd the command: from now on it is the process we trace. */
  started(): void {
    this.state = 'traced';
    this.#learn();
  }

  /** Traced for less than YOUNG_MS. */
  young(nowMs: number): boolean {
    return this.state === 'traced' && nowMs - this.#tracedAt < YOUNG_MS;
  }

  #learn(): void {
    this.#tracedAt = Date.now();
    this.#identity = processIdentity(this.pid);
    this.#executable = processName(this.pid) || this.#executable;
    this.#commandLine = commandLine(this.pid) || this.#commandLine;
    this.#container = readContainerOf(this.pid);
    this.refreshMaps(Date.now(), true);
  }

  /** False once the process is gone, a zombie, or its pid belongs to another process. */
  alive(): boolean {
    return this.#identity !== undefined && isSameProcess(this.#identity);
  }

  /** Re-reads /proc/PID/maps, at most once a second unless forced; keeps the last good copy. */
  refreshMaps(nowMs: number, force = false): void {
    const period = Math.max(this.young(nowMs) ? YOUNG_REFRESH_MS : MAPS_REFRESH_MS, READ_COST_FACTOR * this.#readCostMs);
    if (this.state !== 'traced' || (!force && nowMs - this.#mapsAt < period)) return;
    try {
      const t0 = performance.now();
      const maps = readProcessMaps(this.pid);
      this.#readCostMs = performance.now() - t0;
      // Checked after reading: a process that exited or exec'd meanwhile could have handed
      // us another image's maps (exec keeps the pid and start time; the kernel side saw it).
      if (this.alive() && this.#tracedInKernel()) {
        this.#maps = maps;
        this.#mapsAt = nowMs;
      }
    } catch { /* gone: keep the snapshot taken while it ran */ }
  }

  /** Detaches every hook of this process, off the event loop (see BpfLink.destroyAsync). */
  detach(): Promise<void> {
    return Promise.all(this.links.splice(0).map((l) => l.destroyAsync())).then(() => {});
  }
}
