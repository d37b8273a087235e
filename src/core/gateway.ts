/**
 * The gateway service (Docker's `docker_gwbridge`): a container whose networks give it no way out
 * (an overlay network: its bridge has no address on the host) gets a second interface on a local
 * bridge network of dnet's, `dnet_gwbridge` (NAT to the host's outside, containers isolated from
 * each other on it), and its default route through it. That endpoint also carries the container's
 * published ports (those of the endpoints that asked for the service), through the bridge
 * driver's port publishing.
 *
 * A sandbox wants the service when one of its endpoints' drivers asked for it at join
 * (`disableGatewayService: false`, on a network that is not internal) and none of its endpoints
 * gives a way out (a gateway, IPv4 or IPv6, or a static default route). `sync` makes the
 * sandbox's gateway endpoint match that after every join and leave and after a restart: it is
 * made, remade (other ports) or removed.
 * Namespaces attached from outside (CNI runtimes) and the host's namespace never get one.
 */
import type { ExposedPort, PortBinding } from '../driver-api/driver.ts';
import { InvalidOptionError } from '../errors/cnm.ts';
import type { NetworkController } from './controller.ts';
import type { Endpoint } from './endpoint.ts';
import type { Network } from './network.ts';
import type { Sandbox } from './sandbox.ts';

/** The bridge network that gives containers of overlay networks their way out. */
export const GATEWAY_NETWORK = 'dnet_gwbridge';
const GATEWAY_ENDPOINT_PREFIX = 'gateway_';
/** Its bridge driver options: Docker's docker_gwbridge (ICC off, masquerade on). */
const GATEWAY_NETWORK_OPTIONS = {
  'com.docker.network.bridge.name': GATEWAY_NETWORK,
  'com.docker.network.bridge.enable_icc': 'false',
  'com.docker.network.bridge.enable_ip_masquerade': 'true',
};

/** The name of a container's gateway endpoint. */
export function gatewayEndpointName(containerId: string): string {
  return `${GATEWAY_ENDPOINT_PREFIX}${containerId}`;
}

interface Wanted {
  exposedPorts: ExposedPort[];
  portBindings: PortBinding[];
}

export class GatewayService {
  constructor(private readonly ctl: NetworkController) {}

  /** Whether `n` is the gateway network (its endpoints never ask for the service). */
  static isGatewayNetwork(n: Network): boolean {
    return n.name === GATEWAY_NETWORK;
  }

  /** What the sandbox's gateway endpoint should carry, or undefined when it should have none. */
  private wanted(sb: Sandbox | undefined): Wanted | undefined {
    if (!sb || sb.isHost || sb.external) return undefined;
    const eps = sb.endpoints().filter((e) => !GatewayService.isGatewayNetwork(e.network));
    if (eps.some(hasWayOut)) return undefined;
    const asking = eps.filter((e) => e.joinState?.gatewayService === true);
    if (asking.length === 0) return undefined;
    return {
      exposedPorts: asking.flatMap((e) => e.options.exposedPorts ?? []),
      portBindings: asking.flatMap((e) => e.options.portBindings ?? []),
    };
  }

  /**
   * Makes the container's gateway endpoint match what its sandbox wants: made (the gateway
   * network too, on first use), remade when the ports differ, or removed. Calls for one
   * container run one after another.
   */
  sync(containerId: string): Promise<void> {
    return this.ctl.locks.run(`gw:${containerId}`, async () => {
      const name = gatewayEndpointName(containerId);
      const want = this.wanted(this.ctl.sandboxes.get(containerId));
      const net = this.ctl.networkByName(GATEWAY_NETWORK);
      const have = net?.endpointByName(name);
      // Kept when joined by this container with the ports wanted; otherwise it goes (a crash can
      // leave one made and not joined) and, if wanted, is made again.
      if (have && want && have.containerId === containerId && samePorts(have, want)) return;
      if (have) await (have.containerId === undefined ? have.delete() : have.leaveAndDelete());
      if (!want) return;
      const gw = net ?? (await this.network());
      if (gw.type !== 'bridge') {
        throw new InvalidOptionError(
          'network',
          GATEWAY_NETWORK,
          `dnet gives containers of overlay networks their way out on a bridge network of that name, ` +
            `and this one is a ${gw.type} network: remove it (dnet makes it again)`,
        );
      }
      await gw.connect(containerId, {
        endpointName: name,
        endpoint: { exposedPorts: want.exposedPorts, portBindings: want.portBindings },
      });
    });
  }

  /**
   * After a restart: every sandbox's gateway endpoint made to match (a crash between a join and
   * its gateway's), and gateway endpoints of containers that have no sandbox any more removed.
   * Returns what failed, by container.
   */
  async restore(): Promise<{ containerId: string; error: unknown }[]> {
    const ids = new Set(this.ctl.sandboxes.all().map((sb) => sb.containerId));
    for (const ep of this.ctl.networkByName(GATEWAY_NETWORK)?.endpoints() ?? []) {
      if (ep.name.startsWith(GATEWAY_ENDPOINT_PREFIX)) ids.add(ep.name.slice(GATEWAY_ENDPOINT_PREFIX.length));
    }
    const failed: { containerId: string; error: unknown }[] = [];
    for (const id of ids)
      await this.sync(id).catch((error: unknown) => failed.push({ containerId: id, error }));
    return failed;
  }

  /** The gateway network, made on first use. */
  private network(): Promise<Network> {
    return this.ctl.locks.run(`gw-network`, async () => {
      const have = this.ctl.networkByName(GATEWAY_NETWORK);
      if (have) return have;
      return this.ctl.newNetwork('bridge', GATEWAY_NETWORK, { options: { ...GATEWAY_NETWORK_OPTIONS } });
    });
  }
}

/** The endpoint gives its sandbox a default route: a gateway, or a static default route. */
function hasWayOut(e: Endpoint): boolean {
  const j = e.joinState;
  if (!j) return false;
  if (j.gateway !== undefined || j.gatewayIPv6 !== undefined) return true;
  return j.routes.some((r) => r.destination === '0.0.0.0/0' || r.destination === '::/0');
}

function samePorts(ep: Endpoint, want: Wanted): boolean {
  const o = ep.options;
  return (
    JSON.stringify(o.exposedPorts ?? []) === JSON.stringify(want.exposedPorts) &&
    JSON.stringify(o.portBindings ?? []) === JSON.stringify(want.portBindings)
  );
}
