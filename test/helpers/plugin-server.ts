/**
 * A Docker network + IPAM plugin for the tests, run as its own process:
 *
 *   node --import tsx test/helpers/plugin-server.ts '<json config>'
 *
 * It speaks Docker's plugin protocol (Plugin.Activate, NetworkDriver.*, IpamDriver.*) over HTTP on a
 * unix socket, prints "ready" once listening, and does real work with `ip` commands in its own
 * process (fine for a test plugin): a Linux bridge per network with the gateway on it, a veth pair
 * per join whose host end is a port of the bridge and whose other end dnet moves into the sandbox.
 * As IPAM it hands out IPv4 addresses from /24 pools.
 *
 * Test-only methods (not Docker's): `Test.State` (what it holds and every call it got),
 * `Test.Set` (behaviour: what CreateEndpoint returns, static routes...), `Test.Fault` (the next
 * call of a method kills the process, hangs, answers garbage, an error, or a changed reply).
 * ProgramExternalConnectivity, RevokeExternalConnectivity and IpamDriver.GetCapabilities are not
 * implemented (404), as in many real plugins; GetCapabilities is when the config has
 * `ipamCapabilities` (its reply, e.g. `{ RequiresMACAddress: true }`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';

interface Config {
  socket: string;
  /** Where the plugin keeps its state across restarts (as real plugins do). */
  stateFile?: string;
  implements: string[];
  scope?: 'local' | 'global';
  /** The reply to IpamDriver.GetCapabilities; absent: not implemented (404). */
  ipamCapabilities?: Record<string, unknown>;
}

interface Fault {
  method: string;
  kind: 'kill' | 'hang' | 'garbage' | 'err' | 'reply';
  status?: number;
  message?: string;
  body?: Record<string, unknown>;
  /** Run the real handler first (its side effects happen), then answer as the fault says. */
  runHandler?: boolean;
  /** Only the next call (default); false: every call. */
  once?: boolean;
}

type Json = Record<string, unknown>;

const config = JSON.parse(process.argv[2] ?? '{}') as Config;

const state = {
  calls: [] as { method: string; body: unknown }[],
  networks: {} as Record<string, { bridge: string; gateway?: string; request: Json }>,
  endpoints: {} as Record<string, { networkId: string; request: Json; joined?: string }>,
  pools: {} as Record<string, { pool: string; used: number[] }>,
};
const settings: Json = {};
let faults: Fault[] = [];
let nextDefaultPool = 0;
if (config.stateFile && existsSync(config.stateFile)) {
  const saved = JSON.parse(readFileSync(config.stateFile, 'utf8')) as typeof state & {
    nextDefaultPool: number;
  };
  Object.assign(state, { networks: saved.networks, endpoints: saved.endpoints, pools: saved.pools });
  nextDefaultPool = saved.nextDefaultPool;
}
const save = () => {
  if (config.stateFile)
    writeFileSync(config.stateFile, JSON.stringify({ ...state, calls: [], nextDefaultPool }));
};

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const linkExists = (name: string) => {
  try {
    ip('link', 'show', 'dev', name);
    return true;
  } catch {
    return false;
  }
};
const bridgeName = (nid: string) => `tb${nid.slice(0, 10)}`;
const hostVeth = (eid: string) => `tv${eid.slice(0, 10)}`;
const contVeth = (eid: string) => `tc${eid.slice(0, 10)}`;

class PluginFailure extends Error {
  constructor(
    message: string,
    readonly status = 500,
  ) {
    super(message);
  }
}

// --- IPv4 arithmetic for the IPAM side ------------------------------------------------------

const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
function poolRange(pool: string): { base: number; size: number; len: number } {
  const [addr, lenText] = pool.split('/');
  const len = Number(lenText);
  return { base: toInt(addr ?? ''), size: 2 ** (32 - len), len };
}

// --- handlers ---------------------------------------------------------------------------------

const handlers: Record<string, (b: Json) => Json> = {
  'Plugin.Activate': () => ({ Implements: config.implements }),

  'NetworkDriver.GetCapabilities': () => ({ Scope: config.scope ?? 'local' }),
  'NetworkDriver.CreateNetwork': (b) => {
    const nid = String(b.NetworkID);
    const v4 = (b.IPv4Data as Json[] | undefined)?.[0];
    const bridge = bridgeName(nid);
    ip('link', 'add', bridge, 'type', 'bridge');
    const gateway = typeof v4?.Gateway === 'string' ? v4.Gateway : undefined;
    if (gateway) ip('addr', 'add', gateway, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    state.networks[nid] = { bridge, ...(gateway ? { gateway } : {}), request: b };
    return {};
  },
  'NetworkDriver.DeleteNetwork': (b) => {
    const nid = String(b.NetworkID);
    const n = state.networks[nid];
    if (!n) throw new PluginFailure(`no network ${nid}`);
    if (linkExists(n.bridge)) ip('link', 'del', n.bridge);
    delete state.networks[nid];
    return {};
  },
  'NetworkDriver.CreateEndpoint': (b) => {
    const eid = String(b.EndpointID);
    if (!state.networks[String(b.NetworkID)]) throw new PluginFailure(`no network ${b.NetworkID}`);
    state.endpoints[eid] = { networkId: String(b.NetworkID), request: b };
    const reply = settings.endpointInterface as Json | undefined;
    return reply ? { Interface: reply } : {};
  },
  'NetworkDriver.DeleteEndpoint': (b) => {
    const eid = String(b.EndpointID);
    if (!state.endpoints[eid]) throw new PluginFailure(`no endpoint ${eid}`);
    delete state.endpoints[eid];
    return {};
  },
  'NetworkDriver.EndpointOperInfo': (b) => ({
    Value: { 'plugin.endpoint': String(b.EndpointID).slice(0, 12) },
  }),
  'NetworkDriver.Join': (b) => {
    const eid = String(b.EndpointID);
    const ep = state.endpoints[eid];
    const n = state.networks[String(b.NetworkID)];
    if (!ep || !n) throw new PluginFailure(`no endpoint ${eid}`);
    ip('link', 'add', hostVeth(eid), 'type', 'veth', 'peer', 'name', contVeth(eid));
    ip('link', 'set', hostVeth(eid), 'master', n.bridge, 'up');
    ep.joined = String(b.SandboxKey);
    return {
      InterfaceName: { SrcName: contVeth(eid), DstPrefix: 'eth' },
      Gateway: settings.noGateway ? '' : (n.gateway?.split('/')[0] ?? ''),
      GatewayIPv6: '',
      StaticRoutes: (settings.staticRoutes as unknown[] | undefined) ?? [],
      DisableGatewayService: false,
    };
  },
  'NetworkDriver.Leave': (b) => {
    const eid = String(b.EndpointID);
    const ep = state.endpoints[eid];
    if (!ep) throw new PluginFailure(`no endpoint ${eid}`);
    if (linkExists(hostVeth(eid))) ip('link', 'del', hostVeth(eid));
    delete ep.joined;
    return {};
  },
  'NetworkDriver.DiscoverNew': () => ({}),
  'NetworkDriver.DiscoverDelete': () => ({}),

  'IpamDriver.GetDefaultAddressSpaces': () => ({
    LocalDefaultAddressSpace: 'plugin-local',
    GlobalDefaultAddressSpace: 'plugin-global',
  }),
  'IpamDriver.RequestPool': (b) => {
    if (b.V6 === true && !b.Pool) throw new PluginFailure('no default IPv6 pools', 400);
    const pool = typeof b.Pool === 'string' && b.Pool !== '' ? b.Pool : `10.77.${nextDefaultPool++}.0/24`;
    const id = `${b.AddressSpace}/${pool}`;
    if (state.pools[id]) throw new PluginFailure(`pool ${pool} is in use`, 400);
    state.pools[id] = { pool, used: [] };
    return { PoolID: id, Pool: pool, Data: { 'plugin.pool': 'yes' } };
  },
  'IpamDriver.ReleasePool': (b) => {
    const id = String(b.PoolID);
    if (!state.pools[id]) throw new PluginFailure(`no pool ${id}`, 400);
    delete state.pools[id];
    return {};
  },
  'IpamDriver.RequestAddress': (b) => {
    const p = state.pools[String(b.PoolID)];
    if (!p) throw new PluginFailure(`no pool ${b.PoolID}`, 400);
    const { base, size, len } = poolRange(p.pool);
    let n: number | undefined;
    if (typeof b.Address === 'string' && b.Address !== '') {
      n = toInt(b.Address);
      if (p.used.includes(n)) throw new PluginFailure(`${b.Address} is in use`, 400);
    } else {
      for (let i = base + 1; i < base + size - 1; i++) {
        if (!p.used.includes(i)) {
          n = i;
          break;
        }
      }
      if (n === undefined) throw new PluginFailure('pool is full', 400);
    }
    p.used.push(n);
    return { Address: `${toIp(n)}/${len}`, Data: {} };
  },
  'IpamDriver.ReleaseAddress': (b) => {
    const p = state.pools[String(b.PoolID)];
    if (!p) throw new PluginFailure(`no pool ${b.PoolID}`, 400);
    const n = toInt(String(b.Address));
    if (!p.used.includes(n)) throw new PluginFailure(`${b.Address} is not allocated`, 400);
    p.used = p.used.filter((x) => x !== n);
    return {};
  },

  'Test.State': () => ({
    ...state,
    pools: Object.fromEntries(
      Object.entries(state.pools).map(([k, v]) => [k, { pool: v.pool, used: v.used.map(toIp) }]),
    ),
  }),
  'Test.Set': (b) => {
    Object.assign(settings, b);
    return {};
  },
  'Test.Fault': (b) => {
    faults.push(b as unknown as Fault);
    return {};
  },
  'Test.Clear': () => {
    faults = [];
    state.calls = [];
    for (const k of Object.keys(settings)) delete settings[k];
    return {};
  },
};

const ipamCapabilities = config.ipamCapabilities;
if (ipamCapabilities) handlers['IpamDriver.GetCapabilities'] = () => ({ ...ipamCapabilities });

function send(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'application/vnd.docker.plugins.v1+json' });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const method = (req.url ?? '/').slice(1);
    const text = Buffer.concat(chunks).toString();
    let body: Json = {};
    try {
      body = text.trim() === '' ? {} : (JSON.parse(text) as Json);
    } catch {
      send(res, 400, JSON.stringify({ Err: 'bad JSON' }));
      return;
    }
    if (!method.startsWith('Test.')) {
      state.calls.push({
        method,
        body: text === '' ? null : body,
        ...(req.headers.accept ? { accept: req.headers.accept } : {}),
      });
    }
    const errField = method.startsWith('IpamDriver.') ? 'Error' : 'Err';
    const handler = handlers[method];
    const fi = faults.findIndex((f) => f.method === method);
    const fault = fi >= 0 ? faults[fi] : undefined;
    if (fault && fault.once !== false) faults.splice(fi, 1);
    const run = (): Json => {
      if (!handler) throw new PluginFailure('404 page not found', 404);
      const out = handler(body);
      if (!method.startsWith('Test.')) save();
      return out;
    };
    try {
      if (fault) {
        switch (fault.kind) {
          case 'kill':
            process.kill(process.pid, 'SIGKILL');
            return;
          case 'hang':
            return;
          case 'garbage':
            if (fault.runHandler) run();
            send(res, 200, '{"this is": not json');
            return;
          case 'err':
            if (fault.runHandler) run();
            send(
              res,
              fault.status ?? 500,
              JSON.stringify({ [errField]: fault.message ?? 'failing on purpose' }),
            );
            return;
          case 'reply': {
            const out = fault.runHandler === false ? {} : run();
            send(res, 200, JSON.stringify({ ...out, ...(fault.body ?? {}) }));
            return;
          }
        }
      }
      send(res, 200, JSON.stringify(run()));
    } catch (err) {
      if (err instanceof PluginFailure && err.status === 404) {
        send(res, 404, '404 page not found\n');
        return;
      }
      const status = err instanceof PluginFailure ? err.status : 500;
      send(res, status, JSON.stringify({ [errField]: (err as Error).message }));
    }
  });
});

if (existsSync(config.socket)) unlinkSync(config.socket);
server.listen(config.socket, () => {
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
