/**
 * Plans: an ordered list of libnftables JSON commands, built through checked methods and
 * applied later as ONE transaction (apply.ts). Pure: no FFI, no kernel, testable byte for byte.
 *
 *   const t = { family: 'ip', table: 'dnet' } as const;
 *   const ports = nftMap({ ...t, name: 'pm_port', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'inet_service' });
 *   const plan = new NftPlan()
 *     .addTable(t)
 *     .addSet(ports)
 *     .addChain(t, 'pre', { type: 'nat', hook: 'prerouting', prio: NFT_PRIO.dstnat, policy: 'accept' })
 *     .addRule(t, 'pre', [stmt.dnat({ family: 'ip', port: expr.map(key, expr.ref('pm_port')) })])
 *     .addElements(ports, [[expr.concat('10.0.0.1', 'tcp', 8080), 80]]);
 *
 * nft commands are never built as text: values travel as JSON strings and numbers, so nothing a
 * caller passes can be read as nft syntax. libnftables 1.0.6 has no `destroy` command (delete
 * if present, added in 1.0.7): deleteTable(t, { ifExists: true }) uses the classic
 * `add table` + `delete table` pair in the same transaction instead.
 */

import {
  checkElement,
  checkKey,
  checkTable,
  INT32,
  type NftSetDef,
  oneOf,
  setObj,
  type TableRef,
} from './sets.ts';
import type {
  NftBatch,
  NftChainObj,
  NftChainType,
  NftCommand,
  NftExpr,
  NftFamily,
  NftHook,
  NftPolicy,
  NftRuleObj,
  NftSetObj,
  NftStmt,
} from './types.ts';
import { checkComment, checkInt, checkName, NftablesPlanError } from './validate.ts';

export {
  type NftMapSpec,
  type NftSetDef,
  type NftSetSpec,
  nftMap,
  nftSet,
  type TableRef,
} from './sets.ts';

/** Standard base chain priorities (nft's names for them; libnftables 1.0.6 JSON wants numbers). */
export const NFT_PRIO = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
} as const;

const HOOKS: Record<NftChainType, readonly NftHook[]> = {
  filter: ['prerouting', 'input', 'forward', 'output', 'postrouting'],
  nat: ['prerouting', 'input', 'output', 'postrouting'],
  route: ['output'],
};
/** The chain types a base chain of each family can have (the bridge family: filter only, as nft 1.0.6 knows it). */
const FAMILY_CHAIN_TYPES: Record<NftFamily, readonly NftChainType[]> = {
  ip: ['filter', 'nat', 'route'],
  ip6: ['filter', 'nat', 'route'],
  inet: ['filter', 'nat', 'route'],
  bridge: ['filter'],
};

/** What makes a chain a base chain (attached to a netfilter hook). */
export interface BaseChainSpec {
  type: NftChainType;
  hook: NftHook;
  prio: number;
  policy?: NftPolicy;
}

function setCmd(def: NftSetDef, o: NftSetObj): { set: NftSetObj } | { map: NftSetObj } {
  return def.kind === 'map' ? { map: o } : { set: o };
}

function chainObj(t: TableRef, name: string, base?: BaseChainSpec): NftChainObj {
  const { family, table } = checkTable(t);
  const c: NftChainObj = { family, table, name: checkName('chain name', name) };
  if (base) {
    c.type = oneOf(`${family} chain type`, base.type, FAMILY_CHAIN_TYPES[family]);
    c.hook = oneOf(`${c.type} chain hook`, base.hook, HOOKS[c.type]);
    c.prio = checkInt('chain priority', base.prio, -INT32 - 1, INT32);
    if (base.policy !== undefined) c.policy = oneOf('chain policy', base.policy, ['accept', 'drop'] as const);
  }
  return c;
}

/** An ordered list of nftables commands, applied as one atomic transaction. */
export class NftPlan {
  private readonly cmds: NftCommand[] = [];

  /** The commands so far (the plan keeps them; do not modify). */
  get commands(): readonly NftCommand[] {
    return this.cmds;
  }

  get size(): number {
    return this.cmds.length;
  }

  /** The libnftables input: `{"nftables": [ ...commands ]}`. */
  toJSON(): NftBatch {
    return { nftables: [...this.cmds] };
  }

  /** The exact text handed to nft_run_cmd_from_buffer. */
  serialize(): string {
    return JSON.stringify(this.toJSON());
  }

  /** Appends the commands of other plans (they stay in this transaction). */
  append(...plans: NftPlan[]): this {
    for (const p of plans) this.cmds.push(...p.cmds);
    return this;
  }

  // --- tables ------------------------------------------------------------------------------

  /** `add table`: creates it unless it exists (then nothing changes). */
  addTable(t: TableRef): this {
    const { family, table } = checkTable(t);
    this.cmds.push({ add: { table: { family, name: table } } });
    return this;
  }

  /** `create table`: fails with EEXIST when it exists. */
  createTable(t: TableRef): this {
    const { family, table } = checkTable(t);
    this.cmds.push({ create: { table: { family, name: table } } });
    return this;
  }

  /**
   * `delete table` (and everything in it). With ifExists, a missing table is not an error:
   * `add table` first makes sure there is one to delete (nft 1.0.6 has no `destroy`).
   */
  deleteTable(t: TableRef, opts: { ifExists?: boolean } = {}): this {
    const { family, table } = checkTable(t);
    if (opts.ifExists) this.cmds.push({ add: { table: { family, name: table } } });
    this.cmds.push({ delete: { table: { family, name: table } } });
    return this;
  }

  /** `flush table`: removes every rule of every chain; chains, sets and elements stay. */
  flushTable(t: TableRef): this {
    const { family, table } = checkTable(t);
    this.cmds.push({ flush: { table: { family, name: table } } });
    return this;
  }

  // --- chains ------------------------------------------------------------------------------

  /** `add chain`: a regular chain, or a base chain when `base` is given. */
  addChain(t: TableRef, name: string, base?: BaseChainSpec): this {
    this.cmds.push({ add: { chain: chainObj(t, name, base) } });
    return this;
  }

  /** `create chain`: fails with EEXIST when it exists. */
  createChain(t: TableRef, name: string, base?: BaseChainSpec): this {
    this.cmds.push({ create: { chain: chainObj(t, name, base) } });
    return this;
  }

  /** `delete chain` (it must be empty and not jumped to). */
  deleteChain(t: TableRef, name: string): this {
    this.cmds.push({ delete: { chain: chainObj(t, name) } });
    return this;
  }

  /** `flush chain`: removes its rules. */
  flushChain(t: TableRef, name: string): this {
    this.cmds.push({ flush: { chain: chainObj(t, name) } });
    return this;
  }

  // --- rules -------------------------------------------------------------------------------

  private ruleObj(t: TableRef, chain: string, stmts: NftStmt[], comment?: string): NftRuleObj {
    const { family, table } = checkTable(t);
    if (!Array.isArray(stmts) || stmts.length === 0) {
      throw new NftablesPlanError('rule', stmts, 'needs at least one statement');
    }
    const r: NftRuleObj = { family, table, chain: checkName('chain name', chain) };
    if (comment !== undefined) r.comment = checkComment(comment);
    r.expr = stmts;
    return r;
  }

  /** `add rule`: appends to the chain. */
  addRule(t: TableRef, chain: string, stmts: NftStmt[], opts: { comment?: string } = {}): this {
    this.cmds.push({ add: { rule: this.ruleObj(t, chain, stmts, opts.comment) } });
    return this;
  }

  /** `insert rule`: prepends to the chain. */
  insertRule(t: TableRef, chain: string, stmts: NftStmt[], opts: { comment?: string } = {}): this {
    this.cmds.push({ insert: { rule: this.ruleObj(t, chain, stmts, opts.comment) } });
    return this;
  }

  /** `delete rule ... handle N` (rules have no name; listNft gives their handles). */
  deleteRule(t: TableRef, chain: string, handle: number): this {
    const { family, table } = checkTable(t);
    const r: NftRuleObj = {
      family,
      table,
      chain: checkName('chain name', chain),
      handle: checkInt('rule handle', handle, 1, Number.MAX_SAFE_INTEGER),
    };
    this.cmds.push({ delete: { rule: r } });
    return this;
  }

  // --- sets and maps -----------------------------------------------------------------------

  /** `add set` / `add map` from a definition (nftSet / nftMap). */
  addSet(def: NftSetDef): this {
    this.cmds.push({ add: setCmd(def, setObj(def)) });
    return this;
  }

  /** `create set` / `create map`: fails with EEXIST when it exists. */
  createSet(def: NftSetDef): this {
    this.cmds.push({ create: setCmd(def, setObj(def)) });
    return this;
  }

  /** `delete set` / `delete map` (it must not be referenced by a rule). */
  deleteSet(def: NftSetDef): this {
    this.cmds.push({ delete: setCmd(def, { family: def.family, table: def.table, name: def.name }) });
    return this;
  }

  /** `flush set` / `flush map`: removes every element. */
  flushSet(def: NftSetDef): this {
    this.cmds.push({ flush: setCmd(def, { family: def.family, table: def.table, name: def.name }) });
    return this;
  }

  /**
   * `add element`: set elements are keys; map elements are [key, value] pairs. A key may be
   * wrapped in expr.elem() for a timeout or comment. Each is checked against the definition.
   * Adding an element that exists (same key) is not an error.
   */
  addElements(def: NftSetDef, elems: readonly NftExpr[]): this {
    return this.elements('add', def, elems);
  }

  /** `create element`: fails with EEXIST when a key exists. */
  createElements(def: NftSetDef, elems: readonly NftExpr[]): this {
    return this.elements('create', def, elems);
  }

  /** `delete element`: by key (for maps too: no value). Fails with ENOENT for a missing key. */
  deleteElements(def: NftSetDef, keys: readonly NftExpr[]): this {
    if (keys.length === 0) throw new NftablesPlanError('elements', keys, 'give at least one');
    for (const k of keys) checkKey(def, k);
    this.cmds.push({
      delete: { element: { family: def.family, table: def.table, name: def.name, elem: [...keys] } },
    });
    return this;
  }

  private elements(verb: 'add' | 'create', def: NftSetDef, elems: readonly NftExpr[]): this {
    if (elems.length === 0) throw new NftablesPlanError('elements', elems, 'give at least one');
    for (const e of elems) checkElement(def, e);
    const element = { family: def.family, table: def.table, name: def.name, elem: [...elems] };
    this.cmds.push(verb === 'add' ? { add: { element } } : { create: { element } });
    return this;
  }
}
