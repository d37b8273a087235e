/**
 * The daemon's containers. Docker's API names containers by ID or name; the core names sandboxes
 * by container ID and keeps each sandbox's container name and creation time in the sandbox's own
 * record (written in the same durable commit as the operation that made it). So the registry
 * stores nothing: a container is a sandbox, looked up by ID, name or ID prefix.
 *
 * While a connect or a sandbox create is under way, its container is *held*: its name is taken
 * (a concurrent request with the same name means the same container, one with another ID gets a
 * name conflict) until the operation has made the sandbox or given up.
 */
import { isFullId, nameRuleViolation, newId } from '../errors/validate.ts';
import type { Sandbox } from '../index.ts';
import { nowRfc3339Nano } from '../timestamp.ts';
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
  /** RFC 3339 with nanoseconds (Docker's `Created`). */
  readonly created: string;
}

/** Where the registry finds sandboxes (the controller). */
export interface SandboxIndex {
  sandboxByContainer(containerId: string): Sandbox | undefined;
  sandboxByName(name: string): Sandbox | undefined;
  allSandboxes(): Sandbox[];
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

/** A container as its sandbox records it; sandboxes made without a name go by their short ID. */
export function containerOf(sb: Sandbox): ContainerRecord {
  return {
    id: sb.containerId,
    name: sb.name ?? sb.containerId.slice(0, 12),
    created: sb.createdAt,
  };
}

export class DaemonRegistry {
  private readonly held = new Map<string, { rec: ContainerRecord; holds: number }>();

  constructor(private readonly sandboxes: SandboxIndex) {}

  /** The container with this full ID: its sandbox, or a held container. */
  container(id: string): ContainerRecord | undefined {
    const sb = this.sandboxes.sandboxByContainer(id);
    return sb ? containerOf(sb) : this.held.get(id)?.rec;
  }

  private byName(name: string): ContainerRecord | undefined {
    const sb = this.sandboxes.sandboxByName(name);
    if (sb) return containerOf(sb);
    for (const h of this.held.values()) if (h.rec.name === name) return h.rec;
    return undefined;
  }

  /**
   * Docker's lookup order: the full ID, then the name, then a unique ID prefix. Prefixes shorter
   * than MIN_ID_PREFIX are not tried, so a new short name such as `db` never resolves to an
   * existing container whose ID happens to start with it. A full ID (64 hex characters) is only
   * ever itself: one not found is not looked for among the prefixes (no walk over every sandbox
   * for a new container's connect).
   */
  resolve(ref: string): ContainerRecord | undefined {
    const exact = this.container(ref) ?? this.byName(ref.startsWith('/') ? ref.slice(1) : ref);
    if (exact) return exact;
    if (ref.length < MIN_ID_PREFIX || isFullId(ref) || !/^[0-9a-f]+$/.test(ref)) return undefined;
    const ids = new Set<string>();
    for (const sb of this.sandboxes.allSandboxes())
      if (sb.containerId.startsWith(ref)) ids.add(sb.containerId);
    for (const id of this.held.keys()) if (id.startsWith(ref)) ids.add(id);
    if (ids.size > 1) throw new AmbiguousContainerError(ref, ids.size);
    const [id] = ids;
    return id === undefined ? undefined : this.container(id);
  }

  /**
   * Holds a container for the length of an operation (release it with `release(id)` when done):
   * `ref` resolved as in `resolve`, or else a new container named `ref` (a new ID), or with ID
   * `ref` when it is 64 hex characters (named by its short ID).
   */
  hold(ref: string): ContainerRecord {
    const rec =
      this.resolve(ref) ??
      (isFullId(ref)
        ? { id: ref, name: ref.slice(0, 12), created: nowRfc3339Nano() }
        : { id: newId(), name: checkContainerName(ref), created: nowRfc3339Nano() });
    return this.holdRecord(rec);
  }

  /** Holds a new container with this ID and name; its name must be free. */
  holdRecord(rec: ContainerRecord): ContainerRecord {
    if (!isFullId(rec.id)) throw new InvalidContainerNameError(rec.id, 'a container ID is 64 hex characters');
    const other = this.byName(rec.name);
    if (other && other.id !== rec.id) throw new ContainerNameConflictError(rec.name, other.id);
    const h = this.held.get(rec.id);
    if (h) h.holds++;
    else this.held.set(rec.id, { rec: Object.freeze({ ...rec }), holds: 1 });
    return rec;
  }

  release(id: string): void {
    const h = this.held.get(id);
    if (h && --h.holds === 0) this.held.delete(id);
  }
}
