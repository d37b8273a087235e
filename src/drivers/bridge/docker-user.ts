/**
 * Living beside Docker Engine's own firewall. dockerd (with its default `--iptables=true`) sets the
 * iptables FORWARD policy to DROP (`table ip filter`, chain FORWARD, through iptables-nft), and
 * nftables drops a packet that ANY base chain of the hook drops, whatever dnet's own table says:
 * routed traffic of dnet's bridges (NAT out, published ports from other hosts) would die there.
 *
 * Docker's documented place for rules of others is the `DOCKER-USER` chain, which FORWARD jumps to
 * first and which dockerd never flushes. When that chain exists, dnet puts two rules per bridge of
 * a non-internal network in it, each with the comment `dnet`:
 *
 *   iptables -I DOCKER-USER -i <bridge> -j ACCEPT      (nft: iifname "<bridge>" accept comment "dnet")
 *   iptables -I DOCKER-USER -o <bridge> -j ACCEPT      (nft: oifname "<bridge>" accept comment "dnet")
 *
 * They only let dnet's own traffic past Docker's policy: what may enter or leave a dnet bridge is
 * still decided by dnet's `inet dnet` table (established/related, DNATed traffic only into a
 * bridge, isolation, internal networks), whose drops still win. Rules are added with the network's
 * firewall state and removed with it; dnet touches no rule in that chain without its comment.
 * The same holds for `table ip6 filter` when dockerd runs with ip6tables.
 */
import type { NetnsRef } from '../../os/netns/index.ts';
import {
  applyNft,
  expr,
  listNft,
  type NftCommand,
  type NftFamily,
  type NftRuleset,
  stmt,
  verdict,
} from '../../os/nftables/index.ts';

export const DOCKER_USER_CHAIN = 'DOCKER-USER';
export const DOCKER_USER_COMMENT = 'dnet';
const FAMILIES: readonly NftFamily[] = ['ip', 'ip6'];

type Dir = 'iifname' | 'oifname';
const key = (dir: Dir, bridge: string) => `${dir} ${bridge}`;

/** dnet's rules in a listing of `table <family> filter`: key → handle. Undefined: no DOCKER-USER chain. */
export function dnetRules(rs: NftRuleset): Map<string, number> | undefined {
  if (!rs.chains.some((c) => c.name === DOCKER_USER_CHAIN)) return undefined;
  const out = new Map<string, number>();
  for (const r of rs.rules) {
    if (r.chain !== DOCKER_USER_CHAIN || r.comment !== DOCKER_USER_COMMENT) continue;
    const m = (r.expr[0] as { match?: { left?: { meta?: { key?: string } }; right?: unknown } }).match;
    const dir = m?.left?.meta?.key;
    if ((dir === 'iifname' || dir === 'oifname') && typeof m?.right === 'string')
      out.set(key(dir, m.right), r.handle);
    else out.set(`other ${r.handle}`, r.handle); // ours, but not a shape we write: replace it
  }
  return out;
}

/** What to change: rules for `add` bridges; `remove` bridges' rules, or every other rule of dnet's. */
export interface DockerUserChange {
  add: readonly string[];
  remove: readonly string[] | 'others';
}

/** The commands for a change, given dnet's rules in the chain now (pure). */
export function planDockerUser(
  family: NftFamily,
  have: Map<string, number>,
  change: DockerUserChange,
): NftCommand[] {
  const want = new Set<string>();
  const cmds: NftCommand[] = [];
  for (const b of change.add) {
    for (const dir of ['oifname', 'iifname'] as const) {
      const k = key(dir, b);
      want.add(k);
      if (have.has(k)) continue;
      cmds.push({
        insert: {
          rule: {
            family,
            table: 'filter',
            chain: DOCKER_USER_CHAIN,
            comment: DOCKER_USER_COMMENT,
            expr: [stmt.match(expr.meta(dir), '==', expr.ifname(b)), verdict.accept()],
          },
        },
      });
    }
  }
  const gone =
    change.remove === 'others'
      ? [...have.keys()].filter((k) => !want.has(k))
      : change.remove.flatMap((b) => [key('iifname', b), key('oifname', b)]).filter((k) => !want.has(k));
  for (const k of gone) {
    const handle = have.get(k);
    if (handle !== undefined) {
      cmds.push({ delete: { rule: { family, table: 'filter', chain: DOCKER_USER_CHAIN, handle } } });
    }
  }
  return cmds;
}

/**
 * Applies a change to dnet's rules in Docker's DOCKER-USER chains (ip and ip6, where they exist),
 * one transaction per family. Nothing to do, and nothing done, on a host without Docker.
 */
export function changeDockerUser(change: DockerUserChange, opts: { netns?: NetnsRef } = {}): void {
  const o = opts.netns ? { netns: opts.netns } : {};
  const tables = listNft({ tables: null }, o).tables;
  for (const family of FAMILIES) {
    if (!tables.some((t) => t.family === family && t.name === 'filter')) continue;
    const have = dnetRules(listNft({ table: { family, name: 'filter' } }, o));
    if (!have) continue;
    const cmds = planDockerUser(family, have, change);
    if (cmds.length > 0) applyNft({ nftables: cmds }, o);
  }
}
