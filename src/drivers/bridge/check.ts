/**
 * Checking an endpoint's firewall elements against the kernel (CNI's CHECK asks for it): the
 * elements the planner would add for the endpoint's network and published ports are looked up in
 * the sets and maps libnftables lists. Nothing is changed.
 */
import { nftElements } from '../../os/nftables/index.ts';
import type { Firewall, FwNetwork, FwPort } from './firewall.ts';

type Json = unknown;

/** The scalar values of a JSON value, as strings (the form libnftables lists them in may nest differently). */
function leaves(x: Json, out: Set<string> = new Set()): Set<string> {
  if (x === null || x === undefined) return out;
  if (typeof x === 'object') {
    for (const v of Array.isArray(x) ? x : Object.values(x as Record<string, Json>)) leaves(v, out);
  } else out.add(String(x));
  return out;
}

interface ElementCmd {
  add?: { element?: { family: string; table: string; name: string; elem: Json[] } };
}

/**
 * Problems with the network's and the ports' firewall elements: one sentence per element that
 * is missing (e.g. after `nft flush ruleset`). [] when every element is in place.
 */
export function checkFirewallElements(fw: Firewall, network: FwNetwork, ports: readonly FwPort[]): string[] {
  const wanted = [
    ...(fw.planner.addNetwork(network).nftables as ElementCmd[]).map((c) => ({ c, what: 'network' })),
    ...(ports.length > 0 ? (fw.planner.addPorts(ports).nftables as ElementCmd[]) : []).map((c) => ({
      c,
      what: 'published port',
    })),
  ];
  const problems: string[] = [];
  const listed = new Map<string, Set<string>[] | undefined>();
  for (const { c, what } of wanted) {
    const el = c.add?.element;
    if (!el) continue;
    const key = `${el.family} ${el.table} ${el.name}`;
    if (!listed.has(key)) {
      const set = fw.planner.layout.allSets().find((s) => s.name === el.name && s.family === el.family);
      let have: Set<string>[] | undefined;
      try {
        have = set ? nftElements(set).map((e) => leaves(e)) : undefined;
      } catch {
        have = undefined; // the table or the set is gone
      }
      listed.set(key, have);
    }
    const have = listed.get(key);
    if (!have) {
      problems.push(`the firewall set ${key} is missing (${what} elements cannot be in place)`);
      continue;
    }
    for (const e of el.elem) {
      const need = leaves(e);
      if (!have.some((h) => [...need].every((v) => h.has(v)))) {
        problems.push(`the ${what} element ${JSON.stringify(e)} is missing from the firewall set ${key}`);
      }
    }
  }
  return problems;
}
