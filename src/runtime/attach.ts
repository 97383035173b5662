// The one attach loop: try a probe's strategies in order against the running kernel and keep
// the first that loads and attaches. Every failure is kept to explain a skipped probe.
import { join } from 'node:path';
import { BpfObject, type BpfProgram, type BpfLink } from '../libbpf/object.ts';
import { kernelSymbols } from '../host/kallsyms.ts';
import { selfTriggerBinary, SELF_TRIGGER_FUNCTION } from './self-trigger.ts';
import type { LoadedProbe, ProbeContext, ProbeDefinition, ProgramAttach, Strategy } from './probe.ts';

export const BPF_OBJECT_DIR = process.env.MEMWATCHER_BPF_DIR ?? join(import.meta.dirname, '../../build/bpf');

export interface AttachOutcome {
  loaded?: LoadedProbe;
  /** One entry per strategy tried and refused, in order. */
  refused: Array<{ strategy: string; reason: string }>;
}

export function objectPath(def: ProbeDefinition<unknown, unknown>): string {
  return join(BPF_OBJECT_DIR, `${def.object}.bpf.o`);
}

/** Strategies to try: all in preference order, or the one the config forces. */
export function candidateStrategies(def: ProbeDefinition<unknown, unknown>, forced: string): Strategy[] {
  if (forced === 'auto') return [...def.strategies];
  return def.strategies.filter((s) => s.name === forced);
}

export function loadProbe(def: ProbeDefinition<unknown, unknown>, ctx: ProbeContext<unknown>, forced = 'auto'): AttachOutcome {
  const refused: AttachOutcome['refused'] = [];
  const candidates = candidateStrategies(def, forced);
  if (candidates.length === 0) {
    refused.push({ strategy: forced, reason: `${def.name} has no ${forced} strategy (it has: ${def.strategies.map((s) => s.name).join(', ')})` });
  }
  for (const strategy of candidates) {
    let obj: BpfObject | undefined;
    try {
      obj = BpfObject.open(objectPath(def));
      const wanted = new Set(strategy.programs.map((p) => p.program));
      for (const prog of obj.programs()) prog.setAutoload(wanted.has(prog.name));
      def.configure?.(obj, ctx, strategy);
      obj.load();
      const loaded: LoadedProbe = { obj, strategy, attached: [], skipped: [] };
      if (def.attach) def.attach(loaded, ctx);
      else attachPrograms(loaded, ctx);
      ctx.log.debug(`${def.name}: attached with ${strategy.name} (${loaded.attached.join(', ')})`);
      return { loaded, refused };
    } catch (err) {
      obj?.close();
      const reason = (err as Error).message;
      refused.push({ strategy: strategy.name, reason });
      ctx.log.debug(`${def.name}: ${strategy.name} refused: ${reason}`);
    }
  }
  return { refused };
}

function attachPrograms(loaded: LoadedProbe, ctx: ProbeContext<unknown>): void {
  for (const spec of loaded.strategy.programs) {
    try {
      if (!spec.iterator) attachOne(loaded.obj.program(spec.program), spec, loaded.strategy);
      loaded.attached.push(spec.program);
    } catch (err) {
      if (!spec.optional) throw err;
      const reason = (err as Error).message;
      loaded.skipped.push({ program: spec.program, reason });
      ctx.log.debug(`optional hook ${spec.program} not attached: ${reason}`);
    }
  }
}

function attachOne(prog: BpfProgram, spec: ProgramAttach, strategy: Strategy): BpfLink {
  // Every process, not our pid: see self-trigger.ts (the programs test the caller themselves).
  if (spec.selfTrigger) return prog.attachUprobe({ binary: selfTriggerBinary(), func: SELF_TRIGGER_FUNCTION, pid: -1 });
  if (strategy.name !== 'kprobe' || !spec.functions) return prog.attach();
  const errors: string[] = [];
  for (const fn of spec.functions) {
    const sym = kernelSymbols().functionNamed(fn);
    if (!sym) {
      errors.push(`${fn} not in /proc/kallsyms`);
      continue;
    }
    try {
      return prog.attachKprobe(sym, spec.retprobe ?? false);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new Error(`no kprobe target for ${spec.program}: ${errors.join('; ')}`);
}

/** Whether a loaded probe samples through the self-trigger (the runtime then fires it). */
export function usesSelfTrigger(loaded: LoadedProbe): boolean {
  return loaded.strategy.programs.some((p) => p.selfTrigger && loaded.attached.includes(p.program));
}
