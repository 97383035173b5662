// One logger for the whole process: one line per message on stderr, debug only with -v.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  readonly verbose: boolean;
}

/** `scheme://user:password@host` -> `scheme://***@host`: endpoint URLs may carry credentials. */
export function maskUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s"']*@/gi, '$1***@');
}

/**
 * Text for a terminal: control characters other than tab and newline become `?`, as `ps` shows
 * them. A process names itself (comm, argv, the file it runs): an escape sequence in that name
 * must not reach the operator's terminal as one (retitling it, clearing it, rewriting lines).
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '?');
}

/** printable(), and one line: a newline inside a name (a file called "a\nstack_id=...") cannot forge a line of output. */
export function printableLine(text: string): string {
  return printable(text).replaceAll('\n', '?');
}

const RANK: Record<LogLevel | 'none', number> = { none: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** `level` (log.level, OTEL_LOG_LEVEL) wins over `verbose`; verbose and all are debug here. */
export function createLogger(opts: { verbose: boolean; level?: string; write?: (line: string) => void }): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const level = logLevel(opts.level, opts.verbose);
  const emit = (at: LogLevel, msg: string) => { if (RANK[at] <= RANK[level]) write(`mem-watcher ${at}: ${printable(maskUrlCredentials(msg))}`); };
  return {
    verbose: level === 'debug',
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
  };
}

/** The logger's level for a log.level value (OTEL_LOG_LEVEL's names). */
export function logLevel(level: string | undefined, verbose: boolean): LogLevel | 'none' {
  if (level === undefined || level === 'auto') return verbose ? 'debug' : 'info';
  if (level === 'verbose' || level === 'all') return 'debug';
  return level in RANK ? (level as LogLevel | 'none') : 'info';
}

export const silentLogger: Logger = {
  verbose: false, debug() {}, info() {}, warn() {}, error() {},
};
