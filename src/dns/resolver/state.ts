/**
 * The resolver's bookkeeping, without sockets: the names per network and, per sandbox, the
 * endpoints it has joined (its scope: which networks' names it sees, whether it may forward) and
 * its upstreams. Changes arrive as plain messages (ResolverOp), so the same ops applied in the
 * same order give the same state on both sides of the resolver: the controller's thread (which
 * decides: which sandbox is new, which is gone) and the worker thread that answers queries.
 */
import { parseUpstream, type Upstream } from './forwarder.ts';
import { type NameRecord, NameTable, type QueryScope } from './names.ts';

/** One endpoint of a sandbox, as the resolver needs it. */
export interface ResolverEndpoint {
  networkId: string;
  networkName: string;
  /** The endpoint's ID (its key in the network's names). */
  key: string;
  /** An internal network: its containers' other queries do not leave the host. */
  internal: boolean;
  record: NameRecord;
}

/** A direct change of the name table (names fed from elsewhere: other hosts' endpoints). */
export type NamesCall =
  | { call: 'add'; args: [networkId: string, networkName: string, key: string, rec: NameRecord] }
  | { call: 'remove'; args: [networkId: string, key: string] }
  | { call: 'setNetwork'; args: [networkId: string, name: string] }
  | { call: 'deleteNetwork'; args: [networkId: string] };

/** What changes the resolver's state; `fds` (join only) are the sandbox's new sockets. */
export type ResolverOp =
  | {
      op: 'join';
      sandboxId: string;
      ep: ResolverEndpoint;
      upstreams: readonly string[];
      fds?: { udp: number; tcp: number };
    }
  | { op: 'leave'; sandboxId: string; networkId: string; key: string }
  | { op: 'upstreams'; sandboxId: string; upstreams: readonly string[] }
  | { op: 'drop'; sandboxId: string }
  | ({ op: 'names' } & NamesCall);

interface Member {
  networkId: string;
  key: string;
  internal: boolean;
}

export interface SandboxState {
  members: Member[];
  upstreams: Upstream[];
  scope: QueryScope;
  /** Round-robin position of this sandbox's answers. */
  turn: number;
}

/** Applies a direct name-table change. */
export function applyNamesCall(names: NameTable, c: NamesCall): void {
  if (c.call === 'add') names.add(...c.args);
  else if (c.call === 'remove') names.remove(...c.args);
  else if (c.call === 'setNetwork') names.setNetwork(...c.args);
  else names.deleteNetwork(...c.args);
}

export class ResolverState {
  readonly sandboxes = new Map<string, SandboxState>();

  constructor(readonly names: NameTable = new NameTable()) {}

  /**
   * Applies one op. Returns the sandbox an op created (a join of a new sandbox) or removed (its
   * last leave, a drop), so the caller opens or closes what belongs to it.
   */
  apply(o: ResolverOp): { created?: SandboxState; removed?: SandboxState } {
    switch (o.op) {
      case 'join':
        return this.join(o.sandboxId, o.ep, o.upstreams);
      case 'leave':
        return this.leave(o.sandboxId, o.networkId, o.key);
      case 'upstreams':
        this.setUpstreams(o.sandboxId, o.upstreams);
        return {};
      case 'drop':
        return this.drop(o.sandboxId);
      case 'names':
        applyNamesCall(this.names, o);
        return {};
    }
  }

  private join(sandboxId: string, ep: ResolverEndpoint, upstreams: readonly string[]) {
    let sb = this.sandboxes.get(sandboxId);
    const created = sb === undefined ? newSandbox() : undefined;
    if (created) this.sandboxes.set(sandboxId, created);
    sb = sb ?? (created as SandboxState);
    this.names.add(ep.networkId, ep.networkName, ep.key, ep.record);
    sb.members = sb.members.filter((m) => m.key !== ep.key);
    sb.members.push({ networkId: ep.networkId, key: ep.key, internal: ep.internal });
    this.setUpstreams(sandboxId, upstreams);
    return created ? { created } : {};
  }

  private leave(sandboxId: string, networkId: string, key: string) {
    this.names.remove(networkId, key);
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) return {};
    sb.members = sb.members.filter((m) => m.key !== key);
    if (sb.members.length === 0) return this.drop(sandboxId);
    rescope(sb);
    return {};
  }

  private setUpstreams(sandboxId: string, upstreams: readonly string[]): void {
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) return;
    sb.upstreams = upstreams.map(parseUpstream).filter((u): u is Upstream => u !== undefined);
    rescope(sb);
  }

  private drop(sandboxId: string) {
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) return {};
    this.sandboxes.delete(sandboxId);
    for (const m of sb.members) this.names.remove(m.networkId, m.key);
    return { removed: sb };
  }
}

function newSandbox(): SandboxState {
  return { members: [], upstreams: [], scope: { networks: [], canForward: false }, turn: 0 };
}

function rescope(sb: SandboxState): void {
  const networks = [...new Set(sb.members.map((m) => m.networkId))];
  const external = sb.members.some((m) => !m.internal);
  sb.scope = { networks, canForward: external && sb.upstreams.length > 0 };
}
