/**
 * The resolver's names: per network, each endpoint's DNS names (container name, aliases...) and
 * addresses, with a reverse index for PTR. Pure in-memory state; the core adds an endpoint's
 * names when it joins a sandbox and removes them when it leaves, so a lookup always reflects the
 * last connect/disconnect that returned (no reload, no file, no signal).
 *
 * Names are compared case-insensitively (RFC 4343) and without a trailing dot.
 */

/** One endpoint's entry on one network. */
export interface NameRecord {
  /** DNS names, as given (validated by the caller); matched case-insensitively. */
  names: readonly string[];
  /** Plain IPv4 address, if any. */
  ipv4?: string;
  /** Plain IPv6 address, if any (canonical form). */
  ipv6?: string;
  /** The name a PTR query for one of the addresses answers (without the network suffix). */
  ptrName?: string;
}

interface NetworkNames {
  name: string;
  /** Endpoint key → its record. */
  records: Map<string, NameRecord>;
  /** Lower-cased name → endpoint keys, in the order they were added. */
  byName: Map<string, Set<string>>;
  /** Address → endpoint key. */
  byAddress: Map<string, string>;
}

/** Addresses found for a name on a network. */
export interface NameHit {
  v4: string[];
  v6: string[];
}

export const normaliseName = (name: string): string =>
  (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();

export class NameTable {
  private readonly networks = new Map<string, NetworkNames>();

  /** Records (or renames) a network. */
  setNetwork(networkId: string, name: string): void {
    const n = this.networks.get(networkId);
    if (n) n.name = name;
    else this.networks.set(networkId, { name, records: new Map(), byName: new Map(), byAddress: new Map() });
  }

  /** Forgets a network and every name on it. */
  deleteNetwork(networkId: string): void {
    this.networks.delete(networkId);
  }

  networkName(networkId: string): string | undefined {
    return this.networks.get(networkId)?.name;
  }

  /** Adds (or replaces) an endpoint's record on a network (the network is recorded if new). */
  add(networkId: string, networkName: string, key: string, rec: NameRecord): void {
    this.setNetwork(networkId, networkName);
    const n = this.networks.get(networkId) as NetworkNames;
    this.removeFrom(n, key);
    const copy: NameRecord = { ...rec, names: [...new Set(rec.names.map(normaliseName))] };
    n.records.set(key, copy);
    for (const name of copy.names) {
      const set = n.byName.get(name);
      if (set) set.add(key);
      else n.byName.set(name, new Set([key]));
    }
    if (copy.ipv4) n.byAddress.set(copy.ipv4, key);
    if (copy.ipv6) n.byAddress.set(copy.ipv6, key);
  }

  /** Removes an endpoint's record from a network; false if it had none. */
  remove(networkId: string, key: string): boolean {
    const n = this.networks.get(networkId);
    return n ? this.removeFrom(n, key) : false;
  }

  private removeFrom(n: NetworkNames, key: string): boolean {
    const old = n.records.get(key);
    if (!old) return false;
    n.records.delete(key);
    for (const name of old.names) {
      const set = n.byName.get(name);
      set?.delete(key);
      if (set?.size === 0) n.byName.delete(name);
    }
    if (old.ipv4 && n.byAddress.get(old.ipv4) === key) n.byAddress.delete(old.ipv4);
    if (old.ipv6 && n.byAddress.get(old.ipv6) === key) n.byAddress.delete(old.ipv6);
    return true;
  }

  /** The addresses of `name` (normalised) on a network; undefined when no endpoint has the name. */
  lookup(networkId: string, name: string): NameHit | undefined {
    const n = this.networks.get(networkId);
    const keys = n?.byName.get(name);
    if (!n || !keys || keys.size === 0) return undefined;
    const hit: NameHit = { v4: [], v6: [] };
    for (const k of keys) {
      const r = n.records.get(k);
      if (r?.ipv4) hit.v4.push(r.ipv4);
      if (r?.ipv6) hit.v6.push(r.ipv6);
    }
    return hit;
  }

  /** The PTR name (`<name>.<network>`) of an address on a network, if an endpoint has it. */
  reverse(networkId: string, address: string): string | undefined {
    const n = this.networks.get(networkId);
    const key = n?.byAddress.get(address);
    const r = key === undefined ? undefined : n?.records.get(key);
    if (!n || !r) return undefined;
    const base = r.ptrName ?? r.names[0];
    return base === undefined ? undefined : `${base}.${n.name}`;
  }

  /** How many endpoint records the table holds (all networks). */
  get size(): number {
    let s = 0;
    for (const n of this.networks.values()) s += n.records.size;
    return s;
  }
}

/**
 * Which names a client may see and whether its other queries may leave the host (kept here, with
 * the names, so that public declarations never reach the DNS codec's types).
 */
export interface QueryScope {
  /** IDs of the networks the client's sandbox is on, in join order (the first hit wins). */
  networks: readonly string[];
  /** Whether names not answered here are forwarded (false: no upstream, or internal networks only). */
  canForward: boolean;
}
