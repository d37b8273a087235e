/**
 * `dnet daemon --cluster-store etcd://H:P[,H:P] --cluster-advertise IP|IFACE` (Docker's classic
 * flag names): the daemon joins a cluster on etcd, so overlay networks span hosts.
 * `--cluster-store-opt kv.cacertfile=...,kv.certfile=...,kv.keyfile=...` turns on TLS to etcd;
 * `--vxlan-port` sets VXLAN's UDP port (default 4789).
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { Cluster, ClusterAdvertiseError, DEFAULT_VXLAN_PORT } from '../cluster/index.ts';
import { InvalidOptionError } from '../errors/cnm.ts';
import { isIp } from '../ip/index.ts';
import { EtcdStore } from '../store/etcd.ts';

export interface ClusterFlags {
  /** `etcd://HOST:PORT[,HOST:PORT...]` */
  store: string;
  /** This host's underlay IPv4, or the interface that has it (`eth0`, optionally `:port`, ignored). */
  advertise: string;
  /** `kv.cacertfile=PATH`, `kv.certfile=PATH`, `kv.keyfile=PATH` (each may hold several, comma-separated). */
  storeOpts?: string[];
  vxlanPort?: number;
  /** etcd request deadline (global operations fail within it when etcd is down). Default 3000 ms. */
  timeoutMs?: number;
}

/** etcd client URLs of `etcd://a:2379,b:2379`. */
export function etcdHosts(url: string, tls: boolean): string[] {
  const m = /^etcd:\/\/(.+)$/.exec(url);
  if (!m) throw new InvalidOptionError('--cluster-store', url, 'expected etcd://HOST:PORT[,HOST:PORT...]');
  return m[1]!.split(',').map((hp) => {
    if (!/^[A-Za-z0-9.\-[\]:]+:[0-9]{1,5}$/.test(hp)) {
      throw new InvalidOptionError('--cluster-store', url, `${JSON.stringify(hp)} is not HOST:PORT`);
    }
    return `${tls ? 'https' : 'http'}://${hp}`;
  });
}

/** The IPv4 address of `--cluster-advertise` (an address, or an interface's first IPv4). */
export function advertiseAddress(value: string): string {
  if (isIp(value, 6)) throw new ClusterAdvertiseError(value, 'only IPv4 underlays are supported');
  const v = value.replace(/:[0-9]+$/, ''); // Docker's form IP|IFACE:PORT: the port is the API's, unused
  if (isIp(v, 4)) return v;
  if (isIp(v)) throw new ClusterAdvertiseError(value, 'only IPv4 underlays are supported');
  const addrs = networkInterfaces()[v];
  if (!addrs) throw new ClusterAdvertiseError(value, `no interface named ${JSON.stringify(v)}`);
  const a = addrs.find((x) => x.family === 'IPv4');
  if (!a) throw new ClusterAdvertiseError(value, `interface ${v} has no IPv4 address`);
  return a.address;
}

function storeTls(opts: string[]): { ca: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  const kv: Record<string, string> = {};
  for (const item of opts.flatMap((o) => o.split(','))) {
    const eq = item.indexOf('=');
    const k = item.slice(0, eq);
    if (eq < 0 || !['kv.cacertfile', 'kv.certfile', 'kv.keyfile'].includes(k)) {
      throw new InvalidOptionError(
        '--cluster-store-opt',
        item,
        'expected kv.cacertfile=, kv.certfile= or kv.keyfile=',
      );
    }
    kv[k] = item.slice(eq + 1);
  }
  if (Object.keys(kv).length === 0) return undefined;
  const ca = kv['kv.cacertfile'];
  if (!ca) throw new InvalidOptionError('--cluster-store-opt', opts.join(','), 'TLS needs kv.cacertfile');
  if ((kv['kv.certfile'] === undefined) !== (kv['kv.keyfile'] === undefined)) {
    throw new InvalidOptionError(
      '--cluster-store-opt',
      opts.join(','),
      'give kv.certfile and kv.keyfile together',
    );
  }
  const read = (f: string) => readFileSync(f);
  return {
    ca: read(ca),
    ...(kv['kv.certfile'] ? { cert: read(kv['kv.certfile']) } : {}),
    ...(kv['kv.keyfile'] ? { key: read(kv['kv.keyfile']) } : {}),
  };
}

/** Opens etcd and joins the cluster; the store to close after the cluster. */
export async function joinCluster(
  flags: ClusterFlags,
  dataDir: string,
  onError: (err: Error) => void,
): Promise<{ cluster: Cluster; store: EtcdStore }> {
  const port = flags.vxlanPort ?? DEFAULT_VXLAN_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidOptionError('--vxlan-port', port, 'expected a UDP port from 1 to 65535');
  }
  const advertise = advertiseAddress(flags.advertise);
  const tls = storeTls(flags.storeOpts ?? []);
  const store = await EtcdStore.open({
    hosts: etcdHosts(flags.store, tls !== undefined),
    timeoutMs: flags.timeoutMs ?? 3000,
    // The daemon starts while etcd is down: local networks work, global work waits for etcd.
    verify: false,
    ...(tls ? { tls } : {}),
  });
  try {
    const cluster = await Cluster.join({
      store,
      advertise,
      stateDir: dataDir,
      vxlanPort: port,
      onError,
      tolerant: true,
    });
    return { cluster, store };
  } catch (err) {
    // The join's failure is the error; closing the store on the way out is best effort.
    await store.close().catch(() => {});
    throw err;
  }
}
