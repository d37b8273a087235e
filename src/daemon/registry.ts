/**
 * The daemon's own state, beside the controller's: the containers it knows (Docker's API names
 * containers by ID or name; the core knows only container IDs, which name sandboxes) and the few
 * network attributes of Docker's API that the core does not keep (Attachable, IPAM options).
 *
 * One small object with a plain snapshot (`snapshot()` / `DaemonRegistry.restore()`) and a
 * change hook, so the daemon can persist it beside the controller's store later.
 */
import { isFullId, nameRuleViolation } from '../errors/validate.ts';
import {
  AmbiguousContainerError,
  ContainerNameConflictError,
  InvalidContainerNameError,
} from './api/errors.ts';

export interface ContainerRecord {
  /** 64 hex characters; the core's container ID (its sandbox's name). */
  readonly id: string;
  /** Unique among containers; the name of its endpoints. */
  readonly name: string;
  /** RFC 3339. */
  readonly created: string;
}

export interface NetworkAttributes {
  attachable: boolean;
  ipamOptions: Record<string, string>;
}

export interface RegistrySnapshot {
  containers: ContainerRecord[];
  networks: Record<string, NetworkAttributes>;
}

/** The shortest ID prefix that names a container (Docker's short ID): shorter ones are names. */
export const MIN_ID_PREFIX = 12;
/** The longest container name accepted. */
export const MAX_CONTAINER_NAME_LENGTH = 128;

/** Throws unless `name` is a usable container name; a leading "/" (Docker's form) is dropped. */
export function checkContainerName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  const reason = nameRuleViolation(n, MAX_CONTAINER_NAME_LENGTH);
  if (reason !== undefined) throw new InvalidContainerNameError(name, reason);
  return n;
}

export class DaemonRegistry {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, ContainerRecord>();
  private readonly nets = new Map<string, NetworkAttributes>();
  /** Called after every change (persistence hooks in here). */
  onChange: (() => void) | undefined;

  containers(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  container(id: string): ContainerRecord | undefined {
    return this.byId.get(id);
  }

  /**
   * Docker's lookup order: the full ID, then the name, then a unique ID prefix. Prefixes shorter
   * than MIN_ID_PREFIX are not tried, so a new short name such as `db` never resolves to an
   * existing container whose ID happens to start with it.
   */
  resolve(ref: string): ContainerRecord | undefined {
    const exact = this.byId.get(ref) ?? this.byName.get(ref.startsWith('/') ? ref.slice(1) : ref);
    if (exact) return exact;
    if (ref.length < MIN_ID_PREFIX || !/^[0-9a-f]+$/.test(ref)) return undefined;
    const matches = [...this.byId.values()].filter((c) => c.id.startsWith(ref));
    if (matches.length > 1) throw new AmbiguousContainerError(ref, matches.length);
    return matches[0];
  }

  /** Records a container; its name must be free. */
  add(rec: ContainerRecord): ContainerRecord {
    if (!isFullId(rec.id)) throw new Error(`container ID ${rec.id} is not 64 hex characters`);
    const other = this.byName.get(rec.name);
    if (other && other.id !== rec.id) throw new ContainerNameConflictError(rec.name, other.id);
    const frozen = Object.freeze({ ...rec });
    this.byId.set(rec.id, frozen);
    this.byName.set(rec.name, frozen);
    this.onChange?.();
    return frozen;
  }

  remove(id: string): void {
    const rec = this.byId.get(id);
    if (!rec) return;
    this.byId.delete(id);
    if (this.byName.get(rec.name) === rec) this.byName.delete(rec.name);
    this.onChange?.();
  }

  networkAttributes(networkId: string): NetworkAttributes {
    const a = this.nets.get(networkId);
    return a ? { ...a, ipamOptions: { ...a.ipamOptions } } : { attachable: false, ipamOptions: {} };
  }

  setNetworkAttributes(networkId: string, attrs: NetworkAttributes): void {
    this.nets.set(networkId, { attachable: attrs.attachable, ipamOptions: { ...attrs.ipamOptions } });
    this.onChange?.();
  }

  removeNetwork(networkId: string): void {
    if (this.nets.delete(networkId)) this.onChange?.();
  }

  snapshot(): RegistrySnapshot {
    return {
      containers: this.containers().map((c) => ({ ...c })),
      networks: Object.fromEntries([...this.nets.keys()].map((id) => [id, this.networkAttributes(id)])),
    };
  }

  static restore(s: RegistrySnapshot): DaemonRegistry {
    const r = new DaemonRegistry();
    for (const c of s.containers) r.add(c);
    for (const [id, a] of Object.entries(s.networks)) r.setNetworkAttributes(id, a);
    return r;
  }
}
