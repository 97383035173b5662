// A probe's record layouts against the BPF object it loads: the struct's size and every
// member's offset, from the object's own BTF. A reader out of step with its header (a field
// added, moved or resized in bpf/<probe>.h) fails at start-up naming the struct and the field,
// instead of misreading every record.
import { readStruct } from '../libbpf/btf.ts';
import { BpfObject } from '../libbpf/object.ts';
import { objectPath } from './attach.ts';
import type { ArrayLayout, Layout, StructLayout } from './layout.ts';
import type { ProbeDefinition } from './probe.ts';

type AnyStruct = StructLayout<Record<string, Layout<unknown>>>;

const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Every named struct reachable from `layouts` (fields, array elements), each once. */
function namedStructs(layouts: readonly Layout<unknown>[]): AnyStruct[] {
  const out = new Map<string, AnyStruct>();
  const visit = (l: Layout<unknown>) => {
    const s = l as Partial<AnyStruct>;
    const a = l as Partial<ArrayLayout<unknown>>;
    if (a.of) visit(a.of);
    if (!s.fields) return;
    if (s.cName && !out.has(s.cName)) out.set(s.cName, s as AnyStruct);
    for (const f of Object.values(s.fields)) visit(f);
  };
  layouts.forEach(visit);
  return [...out.values()];
}

/** One line per mismatch between the declared layouts and the BTF of the object at `path`. */
export function layoutMismatches(path: string, layouts: readonly Layout<unknown>[]): string[] {
  const obj = BpfObject.open(path);
  try {
    const btf = obj.btf();
    const problems: string[] = [];
    for (const s of namedStructs(layouts)) {
      const c = readStruct(btf, s.cName!);
      if (!c) {
        problems.push(`struct ${s.cName} is not in ${path}'s BTF (declare it with MW_LAYOUT in its header's object)`);
        continue;
      }
      if (c.size !== s.size) problems.push(`struct ${s.cName} is ${c.size} bytes in ${path}, the reader expects ${s.size}`);
      const declared = new Set<string>();
      for (const [field, off] of Object.entries(s.offsets as Record<string, number>)) {
        const member = snake(field);
        declared.add(member);
        const at = c.members.get(member);
        if (at === undefined) problems.push(`struct ${s.cName} has no member ${member} in ${path}`);
        else if (at !== off) problems.push(`struct ${s.cName}: ${member} is at offset ${at} in ${path}, the reader expects ${off}`);
      }
      for (const member of c.members.keys()) if (!declared.has(member)) problems.push(`struct ${s.cName}: member ${member} of ${path} is unknown to the reader`);
    }
    return problems;
  } finally {
    obj.close();
  }
}

/** Fails when any probe's object disagrees with its declared layouts: one line, the first problem. */
export function checkProbeLayouts(defs: ReadonlyArray<ProbeDefinition<unknown, unknown>>): string | undefined {
  for (const def of defs) {
    if (!def.layouts?.length) continue;
    const problems = layoutMismatches(objectPath(def), def.layouts);
    if (problems.length) return `${def.name}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}: the BPF object and mem-watcher are out of step; rebuild with npm run build:bpf`;
  }
  return undefined;
}
