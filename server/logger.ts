/**
 * Structured logs: one JSON object per line on stderr, `{"time", "level", "msg", ...fields}`.
 *
 * What never goes in a log line: private keys, request or response bodies, attestation contents,
 * database passwords. Callers pass only identifiers (request id, route, status, index, counts); the
 * logger itself strips the password from anything that looks like a connection URL as a last guard.
 */

/** LogLevel orders the levels; `silent` logs nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** LOG_LEVELS lists the accepted level names, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** LogFields are the extra key/value pairs of one log line (JSON-serialisable; bigint becomes a string). */
export type LogFields = Record<string, unknown>;

/** Logger writes structured log lines; `child` returns a logger that adds `fields` to every line. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** LineSink receives one finished line (without the newline). */
export type LineSink = (line: string) => void;

const stderrSink: LineSink = (line) => {
  process.stderr.write(`${line}\n`);
};

/** Passwords in URLs (`postgres://user:secret@host`) are replaced before a line is written. */
function redact(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: redact(value.message), stack: value.stack };
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return value;
}

/**
 * createLogger returns a Logger that writes lines at `level` or above to `sink` (stderr by default).
 * Never throws: a field that cannot be serialised (a cycle) is logged as its string form.
 */
export function createLogger(
  level: LogLevel = 'info',
  sink: LineSink = stderrSink,
  base: LogFields = {},
): Logger {
  const min = RANK[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    const record = { time: new Date().toISOString(), level: lvl, msg: redact(msg), ...base, ...fields };
    let line: string;
    try {
      line = JSON.stringify(record, replacer);
    } catch {
      line = JSON.stringify({ time: record.time, level: lvl, msg: redact(msg), fields: String(fields) });
    }
    sink(redact(line));
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

/** silentLogger is a Logger that drops everything (tests, library use). */
export const silentLogger: Logger = createLogger('silent');
