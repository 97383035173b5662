// What a probe is, as data: its BPF object, the hooks it can use in order of preference, and
// how to turn what the kernel side produces into records. The runtime does the rest.
import type { KernelInfo } from '../host/kernel.ts';
import type { BpfObject } from '../libbpf/object.ts';
import type { Logger } from '../log.ts';
import type { Layout } from './layout.ts';

// iter: a BPF iterator the probe's source runs once per interval (a task iterator, for instance).
export const STRATEGY_NAMES = ['kprobe', 'fentry', 'tracepoint', 'tp_btf', 'uprobe', 'iter'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** One BPF program of a strategy and how it attaches. */
export interface ProgramAttach {
  program: string;
  /** kprobe/fentry: kernel functions to try in order (renamed across versions, e.g. shrink_page_list -> shrink_folio_list). */
  functions?: readonly string[];
  /** kretprobe rather than kprobe. */
  retprobe?: boolean;
  /** A hook some kernels lack: its failure does not fail the strategy. */
  optional?: boolean;
  /** uprobe on our own trigger function (runtime/self-trigger.ts), fired once per interval. */
  selfTrigger?: boolean;
  /** A BPF iterator (SEC("iter/...")): loaded with the strategy, never attached; the probe's source runs it. */
  iterator?: boolean;
}

export interface Strategy {
  name: StrategyName;
  programs: readonly ProgramAttach[];
  /** Why this strategy is at this place in the order (shown with -v and in the README). */
  note?: string;
}

export interface ProbeContext<C = unknown> {
  /** This probe's own config section (probes.<name>). */
  config: C;
  /** The report period, in seconds. */
  interval: number;
  log: Logger;
  kernel: KernelInfo;
  /** Other probes run beside this one (a probe whose targets all ended then keeps the run going). */
  othersRunning: boolean;
  /**
   * Ends the run cleanly (a report count reached, a traced command exited); absent outside the
   * CLI run. `exitCode`: the agent's, when it passes on a traced command's.
   */
  requestStop?(reason: string, exitCode?: number): void;
}

/** A probe after attach: polled by the runtime, stopped once. */
export interface ProbeSource {
  /** Drain ring buffers / read maps; called on every runtime tick. */
  poll(nowMs: number): void;
  /** Records handed to the exporters so far, and records the kernel side could not deliver. */
  counters(): { received: number; dropped: number };
  /** Final drain, then release user-space resources; the runtime closes the BPF object. */
  stop(): void;
}

export interface LoadedProbe {
  obj: BpfObject;
  strategy: Strategy;
  /** Programs of the strategy that attached, and the optional ones that did not (with why). */
  attached: string[];
  skipped: Array<{ program: string; reason: string }>;
}

export interface ProbeDefinition<R, C = unknown> {
  name: string;
  /** Object file stem: build/bpf/<object>.bpf.o */
  object: string;
  strategies: readonly Strategy[];
  /** The C structs its records and maps are read as (runtime/layout.ts), checked against the object's BTF at start-up. */
  layouts?: readonly Layout<unknown>[];
  /** Before load: tunables (rodata) and map sizes. */
  configure?(obj: BpfObject, ctx: ProbeContext<C>, strategy: Strategy): void;
  /** Replaces the generic attach loop (a probe that attaches per target process). */
  attach?(loaded: LoadedProbe, ctx: ProbeContext<C>): void;
  /** After attach: start producing records. */
  start(loaded: LoadedProbe, ctx: ProbeContext<C>, emit: (record: R) => void): ProbeSource;
}
