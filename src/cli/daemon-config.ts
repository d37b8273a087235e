/**
 * `dnet daemon --config-file`: dockerd's daemon.json, for dnet. A JSON object with any of
 * `log-level`, `data-dir`, `run-dir`, `hosts` (the flags' names). A setting given both as a flag
 * and in the file is refused at start (as dockerd does), so what SIGHUP re-reads is unambiguous.
 * SIGHUP re-reads the file and applies what can change while running: `log-level`; a change of
 * the others is reported as needing a restart.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_CONFIG_FILE } from '../daemon/defaults.ts';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../daemon/log-levels.ts';

export { DEFAULT_CONFIG_FILE };

export interface DaemonConfig {
  'log-level'?: LogLevel;
  'data-dir'?: string;
  'run-dir'?: string;
  hosts?: string[];
}

export const CONFIG_KEYS = ['log-level', 'data-dir', 'run-dir', 'hosts'] as const;

/** The configuration file cannot be read or used; the message names the file and what is wrong. */
export class DaemonConfigError extends Error {
  readonly code = 'ERR_DAEMON_CONFIG';
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`configuration file ${file}: ${problem}`);
    this.name = 'DaemonConfigError';
  }
}

/**
 * Reads and checks the file. A missing file is `undefined` when it is the default one (not
 * given), and an error when it was named.
 */
export function readDaemonConfig(file: string, named: boolean): DaemonConfig | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !named) return undefined;
    throw new DaemonConfigError(file, `cannot read it (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new DaemonConfigError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new DaemonConfigError(file, 'must be a JSON object, e.g. {"log-level": "debug"}');
  }
  const out: DaemonConfig = {};
  for (const [k, v] of Object.entries(raw)) {
    switch (k) {
      case 'log-level':
        if (typeof v !== 'string' || !isLogLevel(v)) {
          throw new DaemonConfigError(file, `"log-level" must be one of ${LOG_LEVELS.join(', ')}`);
        }
        out['log-level'] = v;
        break;
      case 'data-dir':
      case 'run-dir':
        if (typeof v !== 'string' || !v.startsWith('/')) {
          throw new DaemonConfigError(file, `"${k}" must be an absolute path`);
        }
        out[k] = v;
        break;
      case 'hosts':
        if (!Array.isArray(v) || v.some((h) => typeof h !== 'string')) {
          throw new DaemonConfigError(
            file,
            '"hosts" must be an array of strings (unix:///path, tcp://addr:port)',
          );
        }
        out.hosts = v as string[];
        break;
      default:
        throw new DaemonConfigError(
          file,
          `unknown setting ${JSON.stringify(k)}: use ${CONFIG_KEYS.join(', ')}`,
        );
    }
  }
  return out;
}

/** The settings whose values differ between two readings (all but log-level need a restart). */
export function changedSettings(before: DaemonConfig, after: DaemonConfig): string[] {
  return CONFIG_KEYS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}
