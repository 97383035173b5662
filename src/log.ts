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

const RANK: Record<LogLevel | 'none', number> = { none: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** `level` (log.level, OTEL_LOG_LEVEL) wins over `verbose`; verbose and all are debug here. */
export function createLogger(opts: { verbose: boolean; level?: string; write?: (line: string) => void }): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const level = logLevel(opts.level, opts.verbose);
  const emit = (at: LogLevel, msg: string) => { if (RANK[at] <= RANK[level]) write(`mem-watcher ${at}: ${maskUrlCredentials(msg)}`); };
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
