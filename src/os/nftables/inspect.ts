/**
 * Cheap questions about the live ruleset, asked over netlink directly (src/os/netlink/events.ts
 * NftQuery) rather than through libnftables, whose listings fetch whole tables with their set
 * elements: the ruleset's generation, and how many rules each chain of a table has.
 */
import { NftQuery } from '../netlink/events.ts';
import { hostNetnsFd, type NetnsRef, runInNetns } from '../netns/index.ts';

let host: NftQuery | undefined;

function withQuery<T>(netns: NetnsRef | undefined, fn: (q: NftQuery) => T): T {
  if (!netns) {
    host ??= runInNetns({ fd: hostNetnsFd() }, () => NftQuery.open());
    return fn(host);
  }
  const q = NftQuery.open({ netns });
  try {
    return fn(q);
  } finally {
    q.close();
  }
}

/** The ruleset's generation: it changes with every committed transaction (anyone's). */
export function nftGeneration(opts: { netns?: NetnsRef } = {}): number {
  return withQuery(opts.netns, (q) => q.generation());
}

/**
 * The number of rules in each chain of `<family> <table>` (chains without rules, and a table
 * that does not exist, have no entry). Equivalent to counting the rules of `nft list table`.
 */
export function nftRuleCounts(
  family: 'inet' | 'bridge' | 'ip' | 'ip6',
  table: string,
  opts: { netns?: NetnsRef } = {},
): Map<string, number> {
  return withQuery(opts.netns, (q) => q.ruleCounts(family, table));
}
