/**
 * Named sets and maps: their checked definitions (nftSet, nftMap) and the checks of the keys and
 * elements a plan adds to them, so a plan never carries an element the set cannot hold.
 */
import type {
  NftDataType,
  NftExpr,
  NftFamily,
  NftKeyType,
  NftMapType,
  NftSetFlag,
  NftSetObj,
} from './types.ts';
import { checkComment, checkInt, checkName, checkTyped, NftablesPlanError } from './validate.ts';

export const FAMILIES: readonly NftFamily[] = ['ip', 'ip6', 'inet', 'bridge'];
const DATA_TYPES: readonly NftDataType[] = [
  'ipv4_addr',
  'ipv6_addr',
  'ether_addr',
  'inet_proto',
  'inet_service',
  'ifname',
  'mark',
];
const SET_FLAGS: readonly NftSetFlag[] = ['constant', 'interval', 'timeout'];
export const INT32 = 0x7fffffff;

/** A table: its family and name. */
export interface TableRef {
  family: NftFamily;
  table: string;
}

export interface NftSetSpec extends TableRef {
  name: string;
  /** The key type: one type, or a concatenation (an array of two or more). */
  type: NftKeyType;
  flags?: readonly NftSetFlag[];
  /** Default element timeout in seconds (needs the 'timeout' flag). */
  timeout?: number;
  /** Maximum number of elements. */
  size?: number;
}

export interface NftMapSpec extends NftSetSpec {
  /** The value type: one type, 'verdict' (a verdict map) or a concatenation. */
  map: NftMapType;
}

/** A checked set or map definition: used to create it and to check elements against it. */
export interface NftSetDef extends TableRef {
  readonly kind: 'set' | 'map';
  readonly name: string;
  readonly type: NftKeyType;
  readonly map?: NftMapType;
  readonly flags: readonly NftSetFlag[];
  readonly timeout?: number;
  readonly size?: number;
}

export function oneOf<T extends string>(what: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new NftablesPlanError(what, v, `expected one of ${allowed.join(', ')}`);
  }
  return v as T;
}

export function checkTable(t: TableRef): TableRef {
  return { family: oneOf('family', t.family, FAMILIES), table: checkName('table name', t.table) };
}

function checkType(what: string, t: unknown, extra: readonly string[] = []): NftKeyType {
  if (Array.isArray(t)) {
    if (t.length < 2) throw new NftablesPlanError(what, t, 'a concatenation needs at least two types');
    return t.map((x) => oneOf(what, x, DATA_TYPES));
  }
  return oneOf(what, t, [...DATA_TYPES, ...extra]) as NftDataType;
}

function makeDef(kind: 'set' | 'map', s: NftSetSpec, map?: NftMapType): NftSetDef {
  const t = checkTable(s);
  const flags = (s.flags ?? []).map((f) => oneOf('set flag', f, SET_FLAGS));
  if (new Set(flags).size !== flags.length)
    throw new NftablesPlanError('set flags', s.flags, 'repeated flag');
  const def: {
    -readonly [K in keyof NftSetDef]: NftSetDef[K];
  } = {
    kind,
    ...t,
    name: checkName(`${kind} name`, s.name),
    type: checkType(`${kind} key type`, s.type),
    flags,
  };
  if (map !== undefined) def.map = checkType('map value type', map, ['verdict']) as NftMapType;
  if (s.timeout !== undefined) {
    if (!flags.includes('timeout'))
      throw new NftablesPlanError('set timeout', s.timeout, "needs flags ['timeout']");
    def.timeout = checkInt('set timeout', s.timeout, 1, INT32);
  }
  if (s.size !== undefined) def.size = checkInt('set size', s.size, 1, 0xffffffff);
  return Object.freeze(def);
}

/** Defines a named set (checked). */
export function nftSet(spec: NftSetSpec): NftSetDef {
  return makeDef('set', spec);
}

/** Defines a named map (checked). `map: 'verdict'` makes a verdict map for stmt.vmap. */
export function nftMap(spec: NftMapSpec): NftSetDef {
  return makeDef('map', spec, spec.map);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkVerdict(data: NftExpr): void {
  const v: unknown = data;
  if (isObj(v)) {
    const keys = Object.keys(v);
    const k = keys[0];
    if (
      keys.length === 1 &&
      (k === 'accept' || k === 'drop' || k === 'continue' || k === 'return') &&
      v[k] === null
    ) {
      return;
    }
    if (keys.length === 1 && (k === 'jump' || k === 'goto')) {
      const target = v[k];
      if (isObj(target)) {
        checkName(`${k} target`, target.target);
        return;
      }
    }
  }
  throw new NftablesPlanError('verdict', data, 'expected accept, drop, continue, return, jump or goto');
}

/** Checks a key (and its element options) against a set definition; returns nothing. */
export function checkKey(def: NftSetDef, key: NftExpr): void {
  let k = key;
  if (isObj(key) && 'elem' in key) {
    const e = key.elem as { val: NftExpr; timeout?: number; comment?: string };
    if (e.timeout !== undefined && !def.flags.includes('timeout')) {
      throw new NftablesPlanError(
        'element timeout',
        e.timeout,
        `${def.kind} ${def.name} has no 'timeout' flag`,
      );
    }
    if (e.comment !== undefined) checkComment(e.comment);
    k = e.val;
  }
  checkTyped(`${def.kind} ${def.name} key`, def.type, k, def.flags.includes('interval'));
}

export function checkElement(def: NftSetDef, el: NftExpr): void {
  if (def.kind === 'set') {
    checkKey(def, el);
    return;
  }
  if (!Array.isArray(el) || el.length !== 2) {
    throw new NftablesPlanError(`map ${def.name} element`, el, 'expected a [key, value] pair');
  }
  const [key, data] = el as [NftExpr, NftExpr];
  checkKey(def, key);
  if (def.map === 'verdict') checkVerdict(data);
  else checkTyped(`map ${def.name} value`, def.map as NftDataType | readonly NftDataType[], data, false);
}

export function setObj(def: NftSetDef): NftSetObj {
  const o: NftSetObj = { family: def.family, table: def.table, name: def.name, type: def.type };
  if (def.map !== undefined) o.map = def.map;
  if (def.flags.length > 0) o.flags = [...def.flags];
  if (def.timeout !== undefined) o.timeout = def.timeout;
  if (def.size !== undefined) o.size = def.size;
  return o;
}
