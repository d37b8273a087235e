/**
 * Builders for rule expressions (`expr.*`) and statements (`stmt.*`): each returns the exact
 * libnftables JSON object and checks its arguments. Raw JSON objects of the types in types.ts
 * may be mixed in; the builders only exist so that the common shapes are short and checked.
 *
 *   stmt.match(expr.payload('ip', 'saddr'), '==', expr.prefix('172.17.0.0/16'))   ip saddr 172.17.0.0/16
 *   stmt.dnat({ family: 'ip', addr: expr.map(key, expr.ref('addrs')) })          dnat ip to <key> map @addrs
 *   stmt.vmap(expr.meta('iifname'), expr.ref('bridges'))                          iifname vmap @bridges
 */

import type {
  NftCtKey,
  NftExpr,
  NftFibFlag,
  NftFibResult,
  NftMatchOp,
  NftMetaKey,
  NftNat,
  NftNatFlag,
  NftStmt,
  NftVerdict,
} from './types.ts';
import {
  checkComment,
  checkIfname,
  checkInt,
  checkIPv4,
  checkIPv6,
  checkName,
  checkPort,
  checkProto,
  NftablesPlanError,
} from './validate.ts';

/** Header fields payload expressions may name, per protocol. */
const PAYLOAD_FIELDS = {
  ether: ['saddr', 'daddr', 'type'],
  ip: ['saddr', 'daddr', 'protocol', 'ttl', 'length', 'dscp'],
  ip6: ['saddr', 'daddr', 'nexthdr', 'hoplimit', 'length', 'dscp'],
  tcp: ['sport', 'dport', 'flags'],
  udp: ['sport', 'dport', 'length'],
  sctp: ['sport', 'dport'],
  th: ['sport', 'dport'], // the transport header, whatever the protocol
  icmp: ['type', 'code'],
  icmpv6: ['type', 'code'],
} as const;
type PayloadProto = keyof typeof PAYLOAD_FIELDS;

const META_KEYS: readonly NftMetaKey[] = [
  'length',
  'protocol',
  'mark',
  'iif',
  'iifname',
  'iiftype',
  'oif',
  'oifname',
  'oiftype',
  'nfproto',
  'l4proto',
  'pkttype',
];
const CT_KEYS: readonly NftCtKey[] = ['state', 'status', 'mark', 'direction'];
const FIB_RESULTS: readonly NftFibResult[] = ['oif', 'oifname', 'type'];
const FIB_FLAGS: readonly NftFibFlag[] = ['saddr', 'daddr', 'mark', 'iif', 'oif'];
const MATCH_OPS: readonly NftMatchOp[] = ['==', '!=', '<', '>', '<=', '>=', 'in'];
const NAT_FLAGS: readonly NftNatFlag[] = ['random', 'fully-random', 'persistent'];

function oneOf<T extends string>(what: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new NftablesPlanError(what, v, `expected one of ${allowed.join(', ')}`);
  }
  return v as T;
}

function natFlags(flags: readonly NftNatFlag[] | undefined): NftNatFlag[] | undefined {
  if (flags === undefined) return undefined;
  if (flags.length === 0) throw new NftablesPlanError('nat flags', flags, 'give at least one flag or none');
  return flags.map((f) => oneOf('nat flag', f, NAT_FLAGS));
}

/** A port given to NAT: a number, or any expression (e.g. a map lookup). */
function natPort(p: NftExpr | undefined): NftExpr | undefined {
  return typeof p === 'number' ? checkPort('nat port', p) : p;
}

export const expr = {
  /** A packet header field: `ip daddr`, `tcp dport`, `th dport` (any transport header). */
  payload<P extends PayloadProto>(protocol: P, field: (typeof PAYLOAD_FIELDS)[P][number]): NftExpr {
    const fields =
      PAYLOAD_FIELDS[oneOf('payload protocol', protocol, Object.keys(PAYLOAD_FIELDS) as PayloadProto[])];
    oneOf(`${protocol} field`, field, fields as readonly string[]);
    return { payload: { protocol, field } };
  },

  /** Packet meta data: `meta l4proto`, `iifname`, `oifname`, `meta mark`... */
  meta(key: NftMetaKey): NftExpr {
    return { meta: { key: oneOf('meta key', key, META_KEYS) } };
  },

  /** Connection tracking data: `ct state`, `ct status`, `ct mark`. */
  ct(key: NftCtKey, dir?: 'original' | 'reply'): NftExpr {
    const k = oneOf('ct key', key, CT_KEYS);
    return dir === undefined
      ? { ct: { key: k } }
      : { ct: { key: k, dir: oneOf('ct dir', dir, ['original', 'reply'] as const) } };
  },

  /** A routing (FIB) lookup: `fib daddr type` is { result: 'type', flags: ['daddr'] }. */
  fib(result: NftFibResult, flags: readonly NftFibFlag[]): NftExpr {
    if (flags.length === 0) throw new NftablesPlanError('fib flags', flags, 'give at least one flag');
    return {
      fib: {
        result: oneOf('fib result', result, FIB_RESULTS),
        flags: flags.map((f) => oneOf('fib flag', f, FIB_FLAGS)),
      },
    };
  },

  /** `a . b . c`: a concatenation (a lookup key, or a concatenated set element). */
  concat(...parts: NftExpr[]): NftExpr {
    if (parts.length < 2) throw new NftablesPlanError('concatenation', parts, 'needs at least two parts');
    return { concat: parts };
  },

  /** `@name`: a reference to a named set or map of the same table. */
  ref(name: string): string {
    return `@${checkName('set name', name)}`;
  },

  /** An anonymous set `{ a, b }`, or an anonymous map when the items are [key, value] pairs. */
  set(items: NftExpr[]): NftExpr {
    if (items.length === 0) throw new NftablesPlanError('anonymous set', items, 'needs at least one item');
    return { set: items };
  },

  /** `key map data`: a lookup of `key` in a named map (expr.ref) or an anonymous one (expr.set). */
  map(key: NftExpr, data: NftExpr): NftExpr {
    return { map: { key, data } };
  },

  /** An address prefix from CIDR notation: '10.0.0.0/8', 'fd00::/64'. */
  prefix(cidr: string): NftExpr {
    const slash = typeof cidr === 'string' ? cidr.lastIndexOf('/') : -1;
    if (slash < 0) throw new NftablesPlanError('prefix', cidr, "expected 'address/length'");
    const addr = cidr.slice(0, slash);
    const lenText = cidr.slice(slash + 1);
    const v6 = addr.includes(':');
    if (v6) checkIPv6('prefix address', addr);
    else checkIPv4('prefix address', addr);
    if (!/^\d{1,3}$/.test(lenText))
      throw new NftablesPlanError('prefix length', lenText, 'expected a number');
    const len = checkInt('prefix length', Number(lenText), 0, v6 ? 128 : 32);
    return { prefix: { addr, len } };
  },

  /** `lo-hi`: a range of ports, addresses or numbers (in sets, needs the interval flag). */
  range(lo: NftExpr, hi: NftExpr): NftExpr {
    if (typeof lo === 'number' && typeof hi === 'number' && lo > hi) {
      throw new NftablesPlanError('range', [lo, hi], 'the low end is above the high end');
    }
    return { range: [lo, hi] };
  },

  /** A checked IPv4 or IPv6 address. */
  ip(addr: string): string {
    if (typeof addr === 'string' && addr.includes(':')) return checkIPv6('address', addr);
    return checkIPv4('address', addr);
  },

  /** A checked port number. */
  port(p: number): number {
    return checkPort('port', p);
  },

  /** A checked layer 4 protocol (name or number). */
  proto(p: string | number): string | number {
    return checkProto('protocol', p);
  },

  /** A checked interface name (for iifname/oifname matches). */
  ifname(name: string): string {
    return checkIfname('interface name', name);
  },

  /** A set element with options: a per-element timeout (seconds) or a comment. */
  elem(val: NftExpr, opts: { timeout?: number; comment?: string } = {}): NftExpr {
    const e: { val: NftExpr; timeout?: number; comment?: string } = { val };
    if (opts.timeout !== undefined) e.timeout = checkInt('element timeout', opts.timeout, 1, 0x7fffffff);
    if (opts.comment !== undefined) e.comment = checkComment(opts.comment);
    return { elem: e };
  },
};

export const verdict = {
  accept: (): NftVerdict => ({ accept: null }),
  drop: (): NftVerdict => ({ drop: null }),
  continue: (): NftVerdict => ({ continue: null }),
  return: (): NftVerdict => ({ return: null }),
  jump: (chain: string): NftVerdict => ({ jump: { target: checkName('jump target', chain) } }),
  goto: (chain: string): NftVerdict => ({ goto: { target: checkName('goto target', chain) } }),
};

export const stmt = {
  ...verdict,

  /** `left op right`; nft writes `==` implicitly (`ip saddr 10.0.0.0/8`), JSON needs it. */
  match(left: NftExpr, op: NftMatchOp, right: NftExpr): NftStmt {
    return { match: { op: oneOf('match operator', op, MATCH_OPS), left, right } };
  },

  /** An anonymous counter. */
  counter(): NftStmt {
    return { counter: null };
  },

  /** `masquerade [to :port] [flags]`. */
  masquerade(opts: { port?: NftExpr; flags?: readonly NftNatFlag[] } = {}): NftStmt {
    const port = natPort(opts.port);
    const flags = natFlags(opts.flags);
    if (port === undefined && flags === undefined) return { masquerade: null };
    return { masquerade: { ...(port !== undefined && { port }), ...(flags && { flags }) } };
  },

  /** `snat [ip|ip6] to addr[:port]`. `family` is required in inet tables. */
  snat(opts: NftNat): NftStmt {
    return { snat: nat(opts) };
  },

  /**
   * `dnat [ip|ip6] to addr[:port]`. `family` is required in inet tables. addr and port may be
   * map lookups: `dnat ip to ip daddr . tcp dport map @addrs : ip daddr . tcp dport map @ports`
   * is { family: 'ip', addr: expr.map(key, '@addrs'), port: expr.map(key, '@ports') }.
   * (One map with concatenated `addr . port` data cannot be created through libnftables JSON
   * before nftables 1.1.0: see apply.ts.)
   */
  dnat(opts: NftNat): NftStmt {
    return { dnat: nat(opts) };
  },

  /** `key vmap data`: jump/goto/accept/drop by lookup in a verdict map. */
  vmap(key: NftExpr, data: NftExpr): NftStmt {
    return { vmap: { key, data } };
  },

  /** Disable connection tracking for the packet (raw chains). */
  notrack(): NftStmt {
    return { notrack: null };
  },
};

function nat(o: NftNat): NftNat {
  const out: NftNat = {};
  if (o.family !== undefined) out.family = oneOf('nat family', o.family, ['ip', 'ip6'] as const);
  if (o.addr !== undefined) {
    if (typeof o.addr === 'string') {
      if (o.family === 'ip6' || o.addr.includes(':')) checkIPv6('nat address', o.addr);
      else checkIPv4('nat address', o.addr);
      if (o.family === 'ip' && o.addr.includes(':'))
        throw new NftablesPlanError('nat address', o.addr, 'not IPv4');
    }
    out.addr = o.addr;
  }
  const port = natPort(o.port);
  if (port !== undefined) out.port = port;
  const flags = natFlags(o.flags);
  if (flags) out.flags = flags;
  if (out.addr === undefined && out.port === undefined) {
    throw new NftablesPlanError('nat', o, 'needs an address or a port');
  }
  return out;
}
