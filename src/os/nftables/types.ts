/**
 * The subset of the libnftables JSON schema (`man libnftables-json`) this project builds and
 * reads back, as TypeScript types. These are the wire shapes: property names and nesting are
 * exactly what libnftables expects and prints, so a plan serialises with JSON.stringify.
 */

/** `bridge`: frames crossing a Linux bridge (filter chains only; the JSON shapes are the inet family's). */
export type NftFamily = 'ip' | 'ip6' | 'inet' | 'bridge';
export type NftHook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
export type NftChainType = 'filter' | 'nat' | 'route';
export type NftPolicy = 'accept' | 'drop';
export type NftSetFlag = 'constant' | 'interval' | 'timeout';

/** Element data types a set key or map value can have (one, or several concatenated). */
export type NftDataType =
  | 'ipv4_addr'
  | 'ipv6_addr'
  | 'ether_addr'
  | 'inet_proto'
  | 'inet_service'
  | 'ifname'
  | 'mark';

/** A set key type: one type, or a concatenation (`ipv4_addr . inet_proto . inet_service`). */
export type NftKeyType = NftDataType | readonly NftDataType[];
/** A map value type; `verdict` makes a verdict map (for `vmap`). */
export type NftMapType = NftDataType | 'verdict' | readonly NftDataType[];

export type NftMetaKey =
  | 'length'
  | 'protocol'
  | 'mark'
  | 'iif'
  | 'iifname'
  | 'iiftype'
  | 'oif'
  | 'oifname'
  | 'oiftype'
  | 'nfproto'
  | 'l4proto'
  | 'pkttype';

export type NftCtKey = 'state' | 'status' | 'mark' | 'direction';
export type NftFibResult = 'oif' | 'oifname' | 'type';
export type NftFibFlag = 'saddr' | 'daddr' | 'mark' | 'iif' | 'oif';
export type NftMatchOp = '==' | '!=' | '<' | '>' | '<=' | '>=' | 'in';
export type NftNatFlag = 'random' | 'fully-random' | 'persistent';

// --- expressions -----------------------------------------------------------------------------

export type NftVerdict =
  | { accept: null }
  | { drop: null }
  | { continue: null }
  | { return: null }
  | { jump: { target: string } }
  | { goto: { target: string } };

export type NftExpr =
  | string // an immediate (address, protocol name, interface name), or `@set` reference
  | number
  | boolean
  | NftExpr[] // a list (right-hand side of `in`), or a [key, value] pair in a map literal
  | { payload: { protocol: string; field: string } }
  | { meta: { key: NftMetaKey } }
  | { ct: { key: NftCtKey; dir?: 'original' | 'reply' } }
  | { fib: { result: NftFibResult; flags: NftFibFlag[] } }
  | { concat: NftExpr[] }
  | { set: NftExpr[] } // anonymous set, or anonymous map when its items are [key, value] pairs
  | { map: { key: NftExpr; data: NftExpr } }
  | { prefix: { addr: string; len: number } }
  | { range: [NftExpr, NftExpr] }
  | { elem: { val: NftExpr; timeout?: number; comment?: string } }
  | NftVerdict;

// --- statements ------------------------------------------------------------------------------

export interface NftNat {
  family?: 'ip' | 'ip6';
  addr?: NftExpr;
  port?: NftExpr;
  flags?: NftNatFlag[];
}

export type NftStmt =
  | NftVerdict
  | { match: { op: NftMatchOp; left: NftExpr; right: NftExpr } }
  | { counter: null }
  | { masquerade: null | { port?: NftExpr; flags?: NftNatFlag[] } }
  | { snat: NftNat }
  | { dnat: NftNat }
  | { vmap: { key: NftExpr; data: NftExpr } }
  | { notrack: null };

// --- objects and commands --------------------------------------------------------------------

export interface NftTableObj {
  family: NftFamily;
  name: string;
  handle?: number;
}

export interface NftChainObj {
  family: NftFamily;
  table: string;
  name: string;
  handle?: number;
  type?: NftChainType;
  hook?: NftHook;
  prio?: number;
  policy?: NftPolicy;
}

export interface NftRuleObj {
  family: NftFamily;
  table: string;
  chain: string;
  handle?: number;
  index?: number;
  comment?: string;
  expr?: NftStmt[];
}

export interface NftSetObj {
  family: NftFamily;
  table: string;
  name: string;
  handle?: number;
  type?: NftKeyType;
  map?: NftMapType;
  flags?: NftSetFlag[];
  timeout?: number;
  size?: number;
  elem?: NftExpr[];
}

export interface NftElementObj {
  family: NftFamily;
  table: string;
  name: string;
  elem: NftExpr[];
}

export type NftObject =
  | { table: NftTableObj }
  | { chain: NftChainObj }
  | { rule: NftRuleObj }
  | { set: NftSetObj }
  | { map: NftSetObj }
  | { element: NftElementObj };

export type NftCommand =
  | { add: NftObject }
  | { create: NftObject }
  | { insert: { rule: NftRuleObj } }
  | { delete: NftObject }
  | { flush: NftObject };

/** One transaction, as handed to nft_run_cmd_from_buffer. */
export interface NftBatch {
  nftables: NftCommand[];
}

/**
 * A statement as libnftables prints it in a listing: one of ours (anonymous counters come back
 * with their values), or any other statement the ruleset holds (rules written by other tools).
 */
export type NftListedStmt =
  | NftStmt
  | { counter: { packets: number; bytes: number } }
  | { [key: string]: unknown };

/** What `list` can be asked for. */
export type NftListTarget =
  | { ruleset: null }
  | { tables: null | { family: NftFamily } }
  | { table: { family: NftFamily; name: string } }
  | { chain: { family: NftFamily; table: string; name: string } }
  | { set: { family: NftFamily; table: string; name: string } }
  | { map: { family: NftFamily; table: string; name: string } };
