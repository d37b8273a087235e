/**
 * Docker's network routes: list, inspect, create, remove, connect, disconnect, prune. Docker's
 * rules on top of the core (pre-defined networks, one host and one none network, network modes)
 * are enforced here; everything else is the core's.
 */

import {
  AmbiguousNetworkError,
  type Endpoint,
  type Network,
  PredefinedNetworkError,
  UnknownNetworkError,
} from '../../../index.ts';
import type { ApiContext } from '../context.ts';
import { dockerNetwork, isPredefined } from '../convert.ts';
import {
  BadRequestError,
  NetworkModeError,
  NotConnectedError,
  SingletonNetworkError,
  UnknownContainerError,
  UnsupportedFeatureError,
} from '../errors.ts';
import {
  contains,
  exactMatch,
  type FilterArgs,
  match,
  matchKVList,
  parseFilters,
  parseUntil,
  validateFilters,
  values,
} from '../filters.ts';
import type { ApiReply, ApiRequest, Router } from '../router.ts';
import { parseConnect, parseDisconnect, parseNetworkCreate } from '../schemas.ts';

const LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];
const PRUNE_FILTERS = ['label', 'label!', 'until'];
const OPT_ENABLE_IPV4 = 'com.docker.network.enable_ipv4';
const OPT_ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
/** Drivers of which Docker allows one network only (the pre-defined `host` and `none`). */
const SINGLETON_DRIVERS = ['host', 'null'];

/** Go's strconv.ParseBool. */
export function parseGoBool(what: string, v: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new BadRequestError(`invalid value for ${what}: ${JSON.stringify(v)} (expected true or false)`);
}

/** dockerd's lookup: the full ID, then the name, then a unique ID prefix. */
export function findNetwork(ctx: ApiContext, term: string): Network {
  const byId = ctx.controller.networkByID(term);
  if (byId) return byId;
  const all = ctx.controller.networks();
  const byName = all.filter((n) => n.name === term);
  if (byName.length === 1) return byName[0]!;
  const byPrefix = all.filter((n) => n.id.startsWith(term));
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw new AmbiguousNetworkError(term, byPrefix.length);
  throw new UnknownNetworkError(term);
}

function networkFilter(f: FilterArgs): (n: Network) => boolean {
  validateFilters(f, LIST_FILTERS);
  let dangling: boolean | undefined;
  const d = values(f, 'dangling');
  if (d.length > 1) throw new BadRequestError('got more than one value for filter key "dangling"');
  if (d.length === 1) {
    if (d[0] === '1' || d[0] === 'true') dangling = true;
    else if (d[0] === '0' || d[0] === 'false') dangling = false;
    else {
      throw new BadRequestError(
        `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`,
      );
    }
  }
  const types = values(f, 'type');
  for (const t of types) {
    if (t !== 'builtin' && t !== 'custom') throw new BadRequestError(`invalid filter: 'type'='${t}'`);
  }
  return (n) => {
    if (!exactMatch(f, 'driver', n.type)) return false;
    if (contains(f, 'name') && !match(f, 'name', n.name)) return false;
    if (contains(f, 'id') && !match(f, 'id', n.id)) return false;
    if (!matchKVList(f, 'label', n.labels)) return false;
    if (!exactMatch(f, 'scope', 'local')) return false;
    const builtin = isPredefined(n.name);
    if (dangling !== undefined) {
      const unused = !builtin && n.endpoints().length === 0;
      if (unused !== dangling) return false;
    }
    if (types.length > 0 && !types.includes(builtin ? 'builtin' : 'custom')) return false;
    return true;
  };
}

/** The container's endpoints, in join order (none when it has no sandbox). */
function endpointsOf(ctx: ApiContext, containerId: string): Endpoint[] {
  return ctx.controller.sandboxByContainer(containerId)?.endpoints() ?? [];
}

export function networkRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/networks', (req) => listNetworks(ctx, req));
  router.add('GET', '/networks/{id}', (req) => inspectNetwork(ctx, req));
  router.add('POST', '/networks/create', (req) => createNetwork(ctx, req));
  router.add('DELETE', '/networks/{id}', (req) => removeNetwork(ctx, req));
  router.add('POST', '/networks/{id}/connect', (req) => connectContainer(ctx, req));
  router.add('POST', '/networks/{id}/disconnect', (req) => disconnectContainer(ctx, req));
  router.add('POST', '/networks/prune', (req) => pruneNetworks(ctx, req));
}

/** GET /networks: the networks, filtered as dockerd filters them. */
async function listNetworks(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const keep = networkFilter(parseFilters(req.query.get('filters')));
  const list = await Promise.all(
    ctx.controller
      .networks()
      .filter(keep)
      .map((n) => dockerNetwork(n, false)),
  );
  return { status: 200, body: list };
}

/** GET /networks/{id}: one network with its containers. */
async function inspectNetwork(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const verbose = req.query.get('verbose');
  if (verbose) parseGoBool('verbose', verbose);
  const n = findNetwork(ctx, req.params.id!);
  const scope = req.query.get('scope');
  if (scope && scope !== 'local') throw new UnknownNetworkError(req.params.id!);
  return { status: 200, body: await dockerNetwork(n, true) };
}

/** POST /networks/create: Docker's rules (pre-defined names, scope, IPv4/IPv6 flags), then the core's. */
async function createNetwork(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const r = parseNetworkCreate(await req.json());
  if (isPredefined(r.name)) throw new PredefinedNetworkError(r.name, 'create');
  if (r.scope !== '' && r.scope !== 'local') {
    throw new UnsupportedFeatureError(
      `Scope ${JSON.stringify(r.scope)}`,
      'dnet networks are local; omit Scope or use "local"',
    );
  }
  if (r.ingress) throw new UnsupportedFeatureError('Ingress', 'the ingress network is a swarm feature');
  const options = { ...r.options };
  let enableIPv4 = r.enableIPv4;
  if (enableIPv4 === undefined && options[OPT_ENABLE_IPV4] !== undefined) {
    enableIPv4 = parseGoBool(`driver-opt "${OPT_ENABLE_IPV4}"`, options[OPT_ENABLE_IPV4]);
  } else if (enableIPv4 !== undefined) delete options[OPT_ENABLE_IPV4];
  let enableIPv6 = r.enableIPv6;
  if (enableIPv6 === undefined && options[OPT_ENABLE_IPV6] !== undefined) {
    enableIPv6 = parseGoBool(`driver-opt "${OPT_ENABLE_IPV6}"`, options[OPT_ENABLE_IPV6]);
  } else if (enableIPv6 !== undefined) delete options[OPT_ENABLE_IPV6];
  // Configuration-only networks are of type null too (as in Docker): they do not count.
  if (
    !r.configOnly &&
    SINGLETON_DRIVERS.includes(r.driver) &&
    ctx.controller.networks().some((n) => n.type === r.driver && !n.configOnly)
  ) {
    throw new SingletonNetworkError(r.driver);
  }
  const n = await ctx.controller.newNetwork(r.driver, r.name, {
    ipam: { driver: r.ipam.driver, config: r.ipam.config, options: r.ipam.options },
    ...(enableIPv4 === false ? { enableIPv4: false } : {}),
    enableIPv6: enableIPv6 ?? false,
    internal: r.internal,
    attachable: r.attachable,
    labels: r.labels,
    options,
    ...(r.configOnly ? { configOnly: true } : {}),
    ...(r.configFrom !== '' ? { configFrom: r.configFrom } : {}),
  });
  return { status: 201, body: { Id: n.id, Warning: '' } };
}

/** DELETE /networks/{id}: refused for pre-defined networks. */
async function removeNetwork(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const n = findNetwork(ctx, req.params.id!);
  if (isPredefined(n.name)) throw new PredefinedNetworkError(n.name, 'remove');
  await n.delete();
  return { status: 204 };
}

/** POST /networks/{id}/connect: endpoint and join as one operation; a new container is made by its first connect. */
async function connectContainer(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const n = findNetwork(ctx, req.params.id!);
  const r = parseConnect(await req.json());
  if (r.linkLocalIPs.length > 0) {
    throw new UnsupportedFeatureError('IPAMConfig.LinkLocalIPs', 'omit the link-local addresses');
  }
  if (r.links.length > 0) {
    throw new UnsupportedFeatureError(
      'Links',
      'legacy container links are not implemented; use a user-defined network',
    );
  }
  // Docker: the host network is only entered when the container is created.
  if (n.type === 'host') throw new NetworkModeError('host');
  if (n.name === 'bridge') {
    if (r.aliases.length > 0) throw new NetworkModeError('alias');
    if (r.ipv4Address || r.ipv6Address) throw new NetworkModeError('ip');
  }
  // A container dnet does not know is made by its first connect (named as given, or with the
  // 64-hex ID given); it is held, name and all, while the connect runs.
  const rec = ctx.registry.hold(r.container);
  try {
    await ctx.withContainer(rec.id, async () => {
      const sb = ctx.controller.sandboxByContainer(rec.id);
      if (sb?.isHost) throw new NetworkModeError('shared');
      const eps = endpointsOf(ctx, rec.id);
      if (!eps.some((e) => e.network === n) && eps.length > 0) {
        if (n.name === 'none' || eps.some((e) => e.network.name === 'none'))
          throw new NetworkModeError('none');
      }
      // Endpoint and join as one operation; a first join makes the sandbox, which keeps the
      // container's name (Docker's default hostname is the short ID).
      await n.connect(rec.id, {
        endpointName: rec.name,
        endpoint: {
          ...(r.ipv4Address ? { ipv4Address: r.ipv4Address } : {}),
          ...(r.ipv6Address ? { ipv6Address: r.ipv6Address } : {}),
          ...(r.macAddress ? { macAddress: r.macAddress } : {}),
          ...(r.aliases.length > 0 ? { aliases: r.aliases } : {}),
          driverOptions: r.driverOpts,
          exposedPorts: r.exposedPorts,
          portBindings: r.portBindings,
        },
        join: sb ? {} : { hostname: rec.id.slice(0, 12), containerName: rec.name, ...ctx.dnsFor({}) },
      });
    });
  } finally {
    ctx.registry.release(rec.id);
  }
  return { status: 200 };
}

/** POST /networks/{id}/disconnect: leave and delete as one operation; `Force` also removes an endpoint left behind. */
async function disconnectContainer(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const n = findNetwork(ctx, req.params.id!);
  const r = parseDisconnect(await req.json());
  const rec = ctx.registry.resolve(r.container);
  if (!rec) {
    // dockerd's force: remove an endpoint of that name left behind by a container it lost.
    const stale = r.force ? n.endpointByName(r.container) : undefined;
    if (!stale) throw new UnknownContainerError(r.container);
    await stale.leaveAndDelete();
    return { status: 200 };
  }
  if (n.type === 'host') throw new NetworkModeError('host');
  await ctx.withContainer(rec.id, async () => {
    // Leave and delete as one operation (a crash midway is finished at the next start). The
    // container's own endpoints are looked at first (a few), the network's (all) only if needed.
    const ep =
      endpointsOf(ctx, rec.id).find((e) => e.network === n && e.containerId === rec.id) ??
      n.endpoints().find((e) => e.containerId === rec.id) ??
      (r.force ? n.endpointByName(rec.name) : undefined);
    if (!ep) throw new NotConnectedError(rec.id, n.name);
    await ep.leaveAndDelete();
  });
  return { status: 200 };
}

/** POST /networks/prune: unused networks that match the filters. */
async function pruneNetworks(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const f = parseFilters(req.query.get('filters'));
  validateFilters(f, PRUNE_FILTERS);
  const until = values(f, 'until');
  if (until.length > 1) throw new BadRequestError('more than one until filter specified');
  const untilMs = until.length === 1 ? parseUntil(until[0]!, Date.now()) : undefined;
  const deleted: string[] = [];
  for (const n of ctx.controller.networks()) {
    if (untilMs !== undefined && n.created.getTime() > untilMs) continue;
    if (!matchKVList(f, 'label', n.labels)) continue;
    if (contains(f, 'label!') && matchKVList(f, 'label!', n.labels)) continue;
    // Configuration-only networks are never pruned (as in Docker).
    if (isPredefined(n.name) || n.configOnly || n.endpoints().length > 0) continue;
    try {
      await n.delete();
      deleted.push(n.name);
    } catch (err) {
      // In use meanwhile, or already gone: not pruned (dockerd logs and goes on).
      ctx.warn(`prune: network ${n.name} not removed: ${String(err)}`, err);
    }
  }
  // dockerd logs one prune event, whatever was removed (each removal is a `destroy` event).
  ctx.events.log('prune', '', { reclaimed: '0' });
  return { status: 200, body: { NetworksDeleted: deleted } };
}
