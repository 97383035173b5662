// Every probe, in the order they start and print. Adding a probe is one folder
// (src/probes/<probe>/ with bpf/<probe>.bpf.c) and one line here: its flags, config keys,
// --help lines and exporters come from its module object.
import { growth } from '../probes/growth/index.ts';
import { memleak } from '../probes/memleak/index.ts';
import { oom } from '../probes/oom/index.ts';
import { paf } from '../probes/paf/index.ts';
import { pr } from '../probes/pr/index.ts';
import { procstat } from '../probes/procstat/index.ts';
import { sysstat } from '../probes/sysstat/index.ts';

export const PROBES = [procstat, sysstat, paf, pr, memleak, oom, growth] as const;

export type AnyProbe = (typeof PROBES)[number];
export type ProbeName = AnyProbe['name'];
export const PROBE_NAMES: readonly ProbeName[] = PROBES.map((p) => p.name);

export function probeNamed(name: string): AnyProbe | undefined {
  return PROBES.find((p) => p.name === name);
}
