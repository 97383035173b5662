// memleak's user stacks are walked in the kernel from the CFI of every executable file the
// target maps (bpf/unwind.bpf.h, src/unwind/process.ts), its ranges re-synced with the
// target's maps (Target.refreshMaps).
import type { Logger } from '../../log.ts';
import type { BpfObject } from '../../libbpf/object.ts';
import { ProcessUnwinder } from '../../unwind/process.ts';

export class MemleakUnwinder extends ProcessUnwinder {
  constructor(obj: BpfObject, log: Logger) {
    super(obj, log, 'memleak', 'probes.memleak.unwind_table_max_bytes');
  }
}
