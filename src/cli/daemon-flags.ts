/**
 * `dnet daemon`'s network flags (dockerd's names: src/daemon/network-settings.ts), read from the
 * command line into settings keyed by daemon.json key. Boolean flags take Go's syntax as dockerd's
 * do: `--icc` (true), `--icc=false`; node's parseArgs has no `--flag=false`, so they are taken out
 * of the arguments first. The others are string options, repeatable where dockerd's are.
 */
import type { ParseArgsConfig } from 'node:util';
import {
  type NetworkSettings,
  SETTINGS,
  SettingError,
  type SettingSpec,
} from '../daemon/network-settings.ts';
import { parseSettingFlag } from '../daemon/network-settings-parse.ts';
import { type Parsed, strs, UsageError } from './args.ts';

const BOOL_FLAGS = SETTINGS.filter((s) => s.kind === 'bool');
const VALUE_FLAGS = SETTINGS.filter((s) => s.kind !== 'bool');

/** The parseArgs options of the value flags (each `multiple`: the last one wins unless repeatable). */
export function settingOptions(): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(VALUE_FLAGS.map((s) => [s.flag, { type: 'string', multiple: true }]));
}

/**
 * Takes the boolean setting flags out of `args` (up to a `--`): `--icc`, `--icc=false`. Returns
 * the other arguments and the texts given per flag.
 */
export function takeBoolFlags(args: string[]): { rest: string[]; texts: Map<SettingSpec, string[]> } {
  const rest: string[] = [];
  const texts = new Map<SettingSpec, string[]>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(a);
    const spec = m ? BOOL_FLAGS.find((s) => s.flag === m[1]) : undefined;
    if (!m || !spec) {
      rest.push(a);
      continue;
    }
    texts.set(spec, [...(texts.get(spec) ?? []), m[2] ?? 'true']);
  }
  rest.push(...args.slice(i));
  return { rest, texts };
}

/** The network settings given as flags (keyed by daemon.json key); a bad value is a UsageError. */
export function settingsFromFlags(
  p: Parsed,
  bools: Map<SettingSpec, string[]>,
  usage: string,
): NetworkSettings {
  const out: NetworkSettings = {};
  const put = (spec: SettingSpec, texts: string[]) => {
    try {
      Object.assign(out, { [spec.key]: parseSettingFlag(spec, texts) });
    } catch (err) {
      if (err instanceof SettingError) throw new UsageError(err.message, usage);
      throw err;
    }
  };
  for (const [spec, texts] of bools) put(spec, texts);
  for (const spec of VALUE_FLAGS) {
    const texts = strs(p, spec.flag);
    if (texts.length > 0) put(spec, texts);
  }
  return out;
}

/** The `dnet daemon --help` lines of the network flags. */
export function settingsUsage(): string {
  return SETTINGS.map((s) => {
    const left = `      --${s.flag}${s.kind === 'bool' ? '' : s.kind === 'int' ? ' int' : s.kind === 'pools' ? ' pool' : s.kind === 'strings' ? ' list' : ' string'}`;
    return left.length < 25 ? `${left.padEnd(26)}${s.help}` : `${left}\n${' '.repeat(26)}${s.help}`;
  }).join('\n');
}
