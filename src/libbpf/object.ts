// Checked, idiomatic wrappers over one libbpf object: open, tunables, load, attach, close.
import { existsSync } from 'node:fs';
import { uprobeRefusalHint } from '../host/capabilities.ts';
import { BpfError } from './errors.ts';
import { native, errno, OBJECT_OPEN_OPTS_SIZE, view as viewOf, type Ptr } from './ffi.ts';
import { takeLibbpfWarnings } from './log.ts';
import { BpfMap } from './map.ts';
import { readDatasecVars, type DatasecVar } from './btf.ts';

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

export type RodataValue = number | bigint | boolean;

export class BpfLink {
  #ptr: Ptr | null;
  readonly description: string;

  constructor(ptr: Ptr, description: string) {
    this.#ptr = ptr;
    this.description = description;
  }

  destroy(): void {
    if (this.#ptr === null) return;
    native.bpf_link__destroy(this.#ptr);
    this.#ptr = null;
  }

  /**
   * Destroys on a worker thread: detaching a uprobe waits for an RCU grace period (about
   * 100 ms each here), which would stall the event loop for seconds over a process's hooks.
   */
  destroyAsync(): Promise<void> {
    if (this.#ptr === null) return Promise.resolve();
    const ptr = this.#ptr;
    this.#ptr = null;
    return new Promise((resolve) => native.bpf_link__destroy.async(ptr, () => resolve()));
  }
}

function checkPtr<T>(ptr: T | null, op: string): T {
  if (ptr === null || ptr === undefined) throw new BpfError(op, errno(), takeLibbpfWarnings());
  return ptr;
}

function checkInt(ret: number, op: string): number {
  if (ret < 0) throw new BpfError(op, -ret, takeLibbpfWarnings());
  return ret;
}

export class BpfProgram {
  readonly name: string;
  readonly section: string;
  readonly #ptr: Ptr;
  readonly #owner: BpfObject;

  constructor(ptr: Ptr, owner: BpfObject) {
    this.#ptr = ptr;
    this.#owner = owner;
    this.name = native.bpf_program__name(ptr) as string;
    this.section = native.bpf_program__section_name(ptr) as string;
  }

  setAutoload(on: boolean): void {
    checkInt(native.bpf_program__set_autoload(this.#ptr, on) as number, `set autoload of ${this.name}`);
  }

  /** Retargets an fentry/fexit/tp_btf program before load (e.g. a renamed `.isra` clone). */
  setAttachTarget(func: string): void {
    checkInt(native.bpf_program__set_attach_target(this.#ptr, 0, func) as number, `set attach target of ${this.name} to ${func}`);
  }

  get fd(): number {
    return native.bpf_program__fd(this.#ptr) as number;
  }

  /** Attaches as the section name says (tp_btf, fentry, tracepoint/..., kprobe/...). */
  attach(): BpfLink {
    return this.#link(native.bpf_program__attach(this.#ptr), `attach ${this.name} (${this.section})`);
  }

  attachTracepoint(category: string, name: string): BpfLink {
    return this.#link(native.bpf_program__attach_tracepoint(this.#ptr, category, name), `attach ${this.name} to tracepoint ${category}:${name}`);
  }

  attachRawTracepoint(name: string): BpfLink {
    return this.#link(native.bpf_program__attach_raw_tracepoint(this.#ptr, name), `attach ${this.name} to raw tracepoint ${name}`);
  }

  attachTrace(): BpfLink {
    return this.#link(native.bpf_program__attach_trace(this.#ptr), `attach ${this.name} (${this.section})`);
  }

  attachKprobe(func: string, retprobe = false): BpfLink {
    return this.#link(native.bpf_program__attach_kprobe(this.#ptr, retprobe, func), `attach ${this.name} to ${retprobe ? 'kretprobe' : 'kprobe'} ${func}`);
  }

  /** uprobe/uretprobe on `func` in `binary` (pid -1: every process mapping it). */
  attachUprobe(opts: { binary: string; func: string; pid?: number; retprobe?: boolean; offset?: number }): BpfLink {
    const uopts = { sz: 0, ref_ctr_offset: 0, bpf_cookie: 0n, retprobe: opts.retprobe ?? false, func_name: opts.func };
    uopts.sz = 40; // sizeof(struct bpf_uprobe_opts) in libbpf 1.1 on 64-bit
    const ptr = native.bpf_program__attach_uprobe_opts(this.#ptr, opts.pid ?? -1, opts.binary, opts.offset ?? 0, uopts);
    const op = `attach ${this.name} to ${opts.retprobe ? 'uretprobe' : 'uprobe'} ${opts.binary}:${opts.func}`;
    try {
      return this.#link(ptr, op);
    } catch (err) {
      const hint = err instanceof BpfError ? uprobeRefusalHint(err.errno) : undefined;
      if (!hint) throw err;
      throw new BpfError(`${op} (${hint})`, (err as BpfError).errno, (err as BpfError).libbpfLog);
    }
  }

  #link(ptr: Ptr | null, op: string): BpfLink {
    const link = new BpfLink(checkPtr(ptr, op), op);
    this.#owner.adoptLink(link);
    return link;
  }
}

/** One opened BPF ELF object. Close it on every path: close destroys its links too. */
export class BpfObject {
  readonly path: string;
  #ptr: Ptr | null;
  #links: BpfLink[] = [];
  #loaded = false;
  #maps = new Map<string, BpfMap>();
  #globals = new Map<string, Map<string, DatasecVar>>();

  private constructor(path: string, ptr: Ptr) {
    this.path = path;
    this.#ptr = ptr;
  }

  static open(path: string): BpfObject {
    if (!existsSync(path)) {
      throw new BpfError(`open ${path}`, 2, ['BPF object not built: run `npm run build:bpf`']);
    }
    // CO-RE against the kernel's own BTF only: otherwise libbpf 1.1 also searches kernel
    // modules' BTF for a type vmlinux lacks, which takes CAP_SYS_ADMIN (iterating BTF objects),
    // and our objects read no module type.
    const opts = { sz: OBJECT_OPEN_OPTS_SIZE, object_name: null, relaxed_maps: false, pin_root_path: null, attach_prog_fd_removed: 0, kconfig: null, btf_custom_path: VMLINUX_BTF };
    return new BpfObject(path, checkPtr(native.bpf_object__open_file(path, opts), `open ${path}`));
  }

  get #handle(): Ptr {
    if (this.#ptr === null) throw new Error(`BPF object ${this.path} is closed`);
    return this.#ptr;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** The object's own BTF (its types as the compiler emitted them), owned by the object. */
  btf(): Ptr {
    return native.bpf_object__btf(this.#handle);
  }

  programs(): BpfProgram[] {
    const out: BpfProgram[] = [];
    let p: Ptr | null = null;
    while ((p = native.bpf_object__next_program(this.#handle, p)) !== null) out.push(new BpfProgram(p, this));
    return out;
  }

  program(name: string): BpfProgram {
    return new BpfProgram(checkPtr(native.bpf_object__find_program_by_name(this.#handle, name), `find program ${name}`), this);
  }

  map(name: string): BpfMap {
    let m = this.#maps.get(name);
    if (!m) {
      m = new BpfMap(checkPtr(native.bpf_object__find_map_by_name(this.#handle, name), `find map ${name}`), name);
      this.#maps.set(name, m);
    }
    return m;
  }

  /** Sets `const volatile` tunables in .rodata; only before load. */
  setRodata(values: Record<string, RodataValue>): void {
    if (this.#loaded) throw new Error('rodata can only be set before load');
    this.#writeGlobals('.rodata', values);
  }

  /**
   * Reads a global of .bss/.data after load, e.g. an in-kernel drop counter. Through a map
   * lookup: libbpf 1.1 mmaps these sections only for skeletons, so the initial-value buffer is
   * a stale private copy.
   */
  readGlobal(section: '.bss' | '.data', name: string): bigint {
    let vars = this.#globals.get(section);
    if (!vars) {
      vars = readDatasecVars(native.bpf_object__btf(this.#handle), section);
      this.#globals.set(section, vars);
    }
    const v = vars.get(name);
    if (!v) throw new Error(`no global ${name} in ${section} of ${this.path}`);
    const value = this.map(section).lookup(Buffer.alloc(4));
    if (!value) throw new Error(`${section} of ${this.path} is not loaded`);
    return readUnsigned(new DataView(value.buffer, value.byteOffset, value.length), v);
  }

  #section(section: string): { view: DataView; vars: Map<string, DatasecVar> } {
    const map = native.bpf_object__find_map_by_name(this.#handle, section);
    if (map === null) throw new Error(`${this.path} has no ${section} section`);
    const size = [0];
    const ptr = checkPtr(native.bpf_map__initial_value(map, size), `map ${section}`);
    const vars = readDatasecVars(native.bpf_object__btf(this.#handle), section);
    return { view: new DataView(viewOf(ptr, size[0] ?? 0)), vars };
  }

  #writeGlobals(section: string, values: Record<string, RodataValue>): void {
    const { view, vars } = this.#section(section);
    for (const [name, value] of Object.entries(values)) {
      const v = vars.get(name);
      if (!v) throw new Error(`no tunable ${name} in ${section} of ${this.path}`);
      writeUnsigned(view, v, value);
    }
  }

  load(): void {
    checkInt(native.bpf_object__load(this.#handle) as number, `load ${this.path}`);
    this.#loaded = true;
  }

  adoptLink(link: BpfLink): void {
    this.#links.push(link);
  }

  /** Destroys every link, then the object (programs and maps); idempotent. */
  close(): void {
    for (const link of this.#links.splice(0)) link.destroy();
    if (this.#ptr !== null) {
      native.bpf_object__close(this.#ptr);
      this.#ptr = null;
    }
  }
}

function readUnsigned(view: DataView, v: DatasecVar): bigint {
  switch (v.size) {
    case 1: return BigInt(view.getUint8(v.offset));
    case 2: return BigInt(view.getUint16(v.offset, true));
    case 4: return BigInt(view.getUint32(v.offset, true));
    case 8: return view.getBigUint64(v.offset, true);
    default: throw new Error(`global ${v.name} has unsupported size ${v.size}`);
  }
}

function writeUnsigned(view: DataView, v: DatasecVar, value: RodataValue): void {
  const n = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
  switch (v.size) {
    case 1: view.setUint8(v.offset, Number(n & 0xffn)); break;
    case 2: view.setUint16(v.offset, Number(n & 0xffffn), true); break;
    case 4: view.setUint32(v.offset, Number(BigInt.asUintN(32, n)), true); break;
    case 8: view.setBigUint64(v.offset, BigInt.asUintN(64, n), true); break;
    default: throw new Error(`tunable ${v.name} has unsupported size ${v.size}`);
  }
}
