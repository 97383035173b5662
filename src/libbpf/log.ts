// Routes libbpf's own log into our logger. libbpf has one global print callback, so this module
// owns it; the last warnings are kept to explain the next failure.
import { native, PrintFn, registerCallback, type Ptr } from './ffi.ts';
import type { Logger } from '../log.ts';

const LIBBPF_WARN = 0;
const LIBBPF_INFO = 1;
const RECENT_MAX = 20;

const recent: string[] = [];
let logger: Logger | undefined;
let callback: Ptr | undefined;
const buf = Buffer.alloc(4096);

function onPrint(level: number, fmt: string, args: Ptr): number {
  const n = native.vsnprintf(buf, buf.length, fmt, args) as number;
  const text = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8').trimEnd();
  if (!text) return 0;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^libbpf: /, '');
    if (level === LIBBPF_WARN) {
      recent.push(line);
      if (recent.length > RECENT_MAX) recent.shift();
    }
    if (!logger) continue;
    if (level === LIBBPF_WARN) logger.debug(`libbpf: ${line}`);
    else if (level === LIBBPF_INFO || logger.verbose) logger.debug(`libbpf: ${line}`);
  }
  return 0;
}

/** Installs the libbpf print callback (once) and sends its output to `log` (debug level: -v). */
export function routeLibbpfLog(log: Logger): void {
  logger = log;
  if (!callback) {
    callback = registerCallback(onPrint as never, PrintFn);
    native.libbpf_set_print(callback);
  }
}

/** libbpf warnings logged since the last call: attached to the error of a failed operation. */
export function takeLibbpfWarnings(): string[] {
  return recent.splice(0, recent.length);
}
