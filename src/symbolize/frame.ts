// One symbolized user-space frame, and the two ways the product prints it.

export interface Frame {
  /** The raw user address. */
  address: bigint;
  /** Path of the mapped file (as in /proc/PID/maps), or '[anon]', '[vdso]', '[heap]'...; undefined outside every mapping. */
  module?: string;
  /** The address in the module's ELF address space (what `addr2line -e MODULE` takes). */
  moduleAddress?: bigint;
  /** Start of the function's symbol in the module's ELF address space (the original tool's `@ 0xstart+0xoff`). */
  moduleStart?: bigint;
  /** The function the address is in (its symbol), demangled when C++. */
  function?: string;
  /** address - symbol start (equivalently moduleAddress - moduleStart). */
  offset?: bigint;
  /** Source file from DWARF: for a frame with inlined calls, the line in `function` that the inlined chain hangs off. */
  file?: string;
  line?: number;
  column?: number;
  /** Functions inlined at this address, innermost first (the innermost holds the instruction's own file:line). */
  inlined?: Frame[];
}

const hex = (v: bigint) => '0x' + v.toString(16);
const fileLine = (f: Frame) => (f.file === undefined ? '' : f.line === undefined ? ` ${f.file}` : ` ${f.file}:${f.line}`);

/**
 * The contract's console line, as the original tool printed it: `%016x: function @ 0xstart+0xoff file:line`
 * (start and offset in the module's address space; the `@` part is left out when the symbol's
 * start is unknown), `<no-symbol>` when nothing resolved (then
 * the module and module address, when known). Inlined frames follow on their own lines, outermost
 * call first, as `<16 spaces>  function @ file:line [inlined]`.
 */
/**
 * Both formats put one frame a line, so a newline inside a name (a mapped file called
 * "lib\nmain+0x1 (evil)", chosen by the traced process) is written as `\n`, as maps escapes it.
 */
function oneLineNames(f: Frame): Frame {
  const esc = <T extends string | undefined>(s: T): T => (s?.includes('\n') ? s.replaceAll('\n', '\\n') : s) as T;
  if (![f.module, f.function, f.file, ...(f.inlined ?? []).flatMap((i) => [i.function, i.file])].some((s) => s?.includes('\n'))) return f;
  return { ...f, module: esc(f.module), function: esc(f.function), file: esc(f.file), inlined: f.inlined?.map((i) => ({ ...i, function: esc(i.function), file: esc(i.file) })) };
}

export function formatFrameConsole(frame: Frame): string {
  const f = oneLineNames(frame);
  const addr = f.address.toString(16).padStart(16, '0');
  let line: string;
  if (f.function === undefined) {
    line = `${addr}: <no-symbol>`;
    if (f.module !== undefined) line += ` ${f.module}` + (f.moduleAddress === undefined ? '' : `+${hex(f.moduleAddress)}`);
  } else {
    const at = f.moduleStart === undefined || f.offset === undefined ? '' : ` @ ${hex(f.moduleStart)}+${hex(f.offset)}`;
    line = `${addr}: ${f.function}${at}${fileLine(f)}`;
  }
  const inlined = (f.inlined ?? []).slice().reverse().map((i) => `${' '.repeat(16)}  ${i.function ?? '??'} @${fileLine(i) || ' ??'} [inlined]`);
  return [line, ...inlined].join('\n');
}

/**
 * `function+0xoff (module) file:line` for code.stacktrace. Inlined frames come first, innermost
 * first, as `function (module) file:line`, so that every line is one frame of the call chain.
 * Unresolved: `[unknown] (module+0xaddr)` with the module address, or the raw address alone.
 */
export function formatFrameStacktrace(frame: Frame): string {
  const f = oneLineNames(frame);
  const mod = f.module === undefined ? '' : ` (${f.module})`;
  const lines = (f.inlined ?? []).map((i) => `${i.function ?? '[unknown]'}${mod}${fileLine(i)}`);
  if (f.function !== undefined) lines.push(`${f.function}${f.offset === undefined ? '' : '+' + hex(f.offset)}${mod}${fileLine(f)}`);
  else if (f.module !== undefined) lines.push(`[unknown] (${f.module}${f.moduleAddress === undefined ? '' : '+' + hex(f.moduleAddress)})`);
  else lines.push(`[unknown] (${hex(f.address)})`);
  return lines.join('\n');
}
