/**
 * The joins Docker made through the plugin, kept in the daemon's store: the core has no sandbox
 * for them (Docker owns the container's namespace), so they are recorded here and given back to
 * their drivers after a dnet restart.
 */
import type { NetworkDriver, PortMapping } from '../../driver-api/driver.ts';
import type { NetworkController } from '../../index.ts';
import type { KvStore } from '../../store/types.ts';

const JOIN_PREFIX = 'dnet/app/docker-plugin/joins/';

/** A Docker join, as the store keeps it. */
export interface JoinRecord {
  networkId: string;
  endpointId: string;
  srcName: string;
  portMappings: PortMapping[];
}

/** The joins by Docker endpoint ID, in memory and in the store. */
export class DockerJoins {
  private readonly joins = new Map<string, JoinRecord>();

  constructor(
    private readonly store: KvStore,
    private readonly controller: NetworkController,
  ) {}

  get(dockerEndpointId: string): JoinRecord | undefined {
    return this.joins.get(dockerEndpointId);
  }

  has(dockerEndpointId: string): boolean {
    return this.joins.has(dockerEndpointId);
  }

  async save(dockerEndpointId: string, rec: JoinRecord): Promise<void> {
    await this.store.put(`${JOIN_PREFIX}${dockerEndpointId}`, rec);
    this.joins.set(dockerEndpointId, rec);
  }

  async forget(dockerEndpointId: string): Promise<void> {
    await this.store.delete(`${JOIN_PREFIX}${dockerEndpointId}`);
    this.joins.delete(dockerEndpointId);
  }

  /**
   * At start, after the controller's restore: the joins Docker made are given back to their
   * drivers (the veth kept, the same host ports published again), then each driver rebuilds its
   * firewall once. A join whose interface is gone (a reboot) is forgotten: Docker joins again
   * when it starts the container. Returns what could not be restored.
   */
  async restore(): Promise<string[]> {
    const problems: string[] = [];
    const entries = await this.store.list(JOIN_PREFIX);
    const drivers = new Set<NetworkDriver>();
    for (const e of entries) {
      const key = e.key.slice(JOIN_PREFIX.length);
      const rec = e.value as JoinRecord;
      const n = this.controller.networkByID(rec.networkId);
      const ep = n?.endpointByID(rec.endpointId);
      if (!n || !ep) {
        problems.push(`docker join of ${key}: its network or endpoint is gone`);
        await this.store.delete(e.key);
        continue;
      }
      const driver = n.driver as NetworkDriver;
      // Once a driver restores a join it waits for restoreDone (its firewall is rebuilt then),
      // even when this one fails.
      drivers.add(driver);
      try {
        const intact = (await driver.restoreJoin?.(n.id, ep.id, { portMappings: rec.portMappings })) ?? true;
        if (!intact) {
          // The driver removed what was left of it; the ports it took back go with the leave.
          problems.push(
            `docker join of ${key}: its interface is gone; Docker joins again when it starts the container`,
          );
          await driver.leave(n.id, ep.id);
          await this.store.delete(e.key);
          continue;
        }
        this.joins.set(key, rec);
      } catch (err) {
        problems.push(`docker join of ${key}: ${String(err)}`);
      }
    }
    for (const d of drivers) await d.restoreDone?.();
    return problems;
  }
}
