/** The log levels, in a module of their own (no pino): `dnet daemon --help` prints them without loading the logger. */

/** The levels `dnet daemon --log-level` takes (dockerd's, plus pino's trace and silent). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}
