/**
 * `dnet daemon --config-file`: dockerd's daemon.json, for dnet. A JSON object with any of
 * `log-level`, `data-dir`, `run-dir`, `hosts` (the flags' names) and the network settings with
 * dockerd's keys (src/daemon/network-settings.ts: `bip`, `default-address-pools`, `dns`...). A
 * setting given both as a flag and in the file is refused at start (as dockerd does), so what
 * SIGHUP re-reads is unambiguous. SIGHUP re-reads the file and applies what can change while
 * running: `log-level`, `dns`, `dns-search`, `dns-opts`; a change of the others is reported as
 * needing a restart.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_CONFIG_FILE } from '../daemon/defaults.ts';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../daemon/log-levels.ts';
import {
  type NetworkSettings,
  SETTING_KEYS,
  SettingError,
  settingByKey,
} from '../daemon/network-settings.ts';
import { parseSettingJson } from '../daemon/network-settings-parse.ts';

export { DEFAULT_CONFIG_FILE };

export interface DaemonConfig extends NetworkSettings {
  'log-level'?: LogLevel;
  'data-dir'?: string;
  'run-dir'?: string;
  hosts?: string[];
  /** dockerd's `metrics-addr` (`--metrics-addr`): Prometheus metrics at http://ADDR/metrics. */
  'metrics-addr'?: string;
}

export const CONFIG_KEYS = ['log-level', 'data-dir', 'run-dir', 'hosts', 'metrics-addr'] as const;
/** Every key the file may have. */
export const ALL_CONFIG_KEYS: readonly (keyof DaemonConfig)[] = [...CONFIG_KEYS, ...SETTING_KEYS];

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
      case 'metrics-addr':
        if (typeof v !== 'string' || v === '') {
          throw new DaemonConfigError(
            file,
            '"metrics-addr" must be an address and port, e.g. "127.0.0.1:9323"',
          );
        }
        out['metrics-addr'] = v;
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
      default: {
        const spec = settingByKey(k);
        if (!spec) {
          // dockerd's words, then what dnet knows.
          throw new DaemonConfigError(
            file,
            `the following directives don't match any configuration option: ${k} (known: ${ALL_CONFIG_KEYS.join(', ')})`,
          );
        }
        try {
          Object.assign(out, { [k]: parseSettingJson(spec, v) });
        } catch (err) {
          if (err instanceof SettingError) throw new DaemonConfigError(file, err.message);
          throw err;
        }
      }
    }
  }
  return out;
}

/** The settings whose values differ between two readings. */
export function changedSettings(before: DaemonConfig, after: DaemonConfig): string[] {
  return ALL_CONFIG_KEYS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/**
 * dockerd's refusal of keys given both ways: `the following directives are specified both as a
 * flag and in the configuration file: bip: (from flag: 10.1.0.1/24, from file: 10.2.0.1/24)`.
 * `fromFlags` holds the flags' values by file key. Undefined when there is no conflict.
 */
export function configConflicts(fromFlags: DaemonConfig, fromFile: DaemonConfig): string | undefined {
  const show = (v: unknown) =>
    Array.isArray(v)
      ? `[${v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(' ')}]`
      : String(v);
  const both = ALL_CONFIG_KEYS.filter((k) => fromFlags[k] !== undefined && fromFile[k] !== undefined).map(
    (k) => `${k}: (from flag: ${show(fromFlags[k])}, from file: ${show(fromFile[k])})`,
  );
  if (both.length === 0) return undefined;
  return `the following directives are specified both as a flag and in the configuration file: ${both.join(', ')}`;
}
