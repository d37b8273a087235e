/**
 * Reading Docker's plugin requests (the server side of src/plugins/): every field type-checked,
 * addresses parsed with the same rules dnet applies to plugins' replies (src/plugins/reply.ts).
 * As Go encodes them, an absent field, `null` and `""` all mean "not set".
 */
import type { PortBinding, Proto } from '../../driver-api/driver.ts';
import type { IpFamily } from '../../ip/index.ts';
import { isObj, JsonView, show } from '../../plugins/json-view.ts';
import { DockerPluginRequestError } from './errors.ts';

/** Docker's option keys (libnetwork's netlabel). */
export const LABEL_GENERIC = 'com.docker.network.generic';
export const LABEL_ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
export const LABEL_INTERNAL = 'com.docker.network.internal';
export const LABEL_PORTMAP = 'com.docker.network.portmap';
export const LABEL_EXPOSED_PORTS = 'com.docker.network.endpoint.exposedports';
/** dnet's option: which of its drivers serves a network Docker made with `-d dnet`. */
export const OPT_DNET_DRIVER = 'dnet.driver';
/** The label dnet puts on a network Docker made: the Docker network's ID. */
export const LABEL_DOCKER_NETWORK_ID = 'com.dnet.docker.network-id';

/** A typed view of one request body (or an object inside it). */
export class Req extends JsonView<Req> {
  constructor(
    readonly method: string,
    body: Record<string, unknown>,
    path = '',
  ) {
    super(body, path);
  }

  static of(method: string, body: unknown): Req {
    if (!isObj(body))
      throw new DockerPluginRequestError(method, `the body is not a JSON object (got ${show(body)})`);
    return new Req(method, body);
  }

  fail(reason: string): DockerPluginRequestError {
    return new DockerPluginRequestError(this.method, reason);
  }

  protected nested(body: Record<string, unknown>, path: string): Req {
    return new Req(this.method, body, path);
  }

  /** A Docker object ID: 1-128 letters and digits (Docker's are 64 hex). */
  id(key: string): string {
    const v = this.string(key);
    if (!/^[A-Za-z0-9]{1,128}$/.test(v)) throw this.bad(key, 'is not an ID (letters and digits)');
    return v;
  }

  /** A boolean (dockerd also sends "true"/"false" strings in options); absent or null is false. */
  bool(key: string): boolean {
    const v = this.body[key];
    if (v === undefined || v === null) return false;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    throw this.bad(key, 'is not a boolean');
  }

  /** Docker's generic options: values may be strings, numbers or booleans; they become strings. */
  scalarMap(key: string): Record<string, string> {
    const v = this.body[key];
    if (v === undefined || v === null) return {};
    if (!isObj(v)) throw this.bad(key, 'is not an object');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
      else throw this.fail(`"${this.name(key)}.${k}" is not a string (got ${show(x)})`);
    }
    return out;
  }

  /** An integer from `min` to `max`; absent or null is 0. */
  int(key: string, min: number, max: number): number {
    const v = this.body[key];
    if (v === undefined || v === null) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw this.bad(key, `is not an integer from ${min} to ${max}`);
    return v;
  }
}

/** One IPAMData of CreateNetwork. */
export interface IpamDataIn {
  addressSpace: string;
  pool: string;
  gateway?: string;
  auxAddresses: Record<string, string>;
}

export function ipamData(r: Req, key: string, family: IpFamily): IpamDataIn[] {
  return r.array(key).map((v, i) => {
    const e = r.element(key, i, v);
    const pool = e.optCidr('Pool', family);
    if (pool === undefined) throw e.bad('Pool', 'is missing');
    const gateway = e.optCidr('Gateway', family);
    const aux = e.object('AuxAddresses');
    const auxAddresses: Record<string, string> = {};
    if (aux) for (const k of Object.keys(aux.body)) auxAddresses[k] = aux.optCidr(k, family) ?? '';
    return {
      addressSpace: e.optString('AddressSpace') ?? '',
      pool,
      ...(gateway ? { gateway } : {}),
      auxAddresses: Object.fromEntries(Object.entries(auxAddresses).filter(([, a]) => a !== '')),
    };
  });
}

const PROTOS: Record<number, Proto> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const PROTO_NUMBERS: Record<Proto, number> = { tcp: 6, udp: 17, sctp: 132 };

/**
 * Docker's port map (`com.docker.network.portmap`): `[{Proto, IP, Port, HostIP, HostPort,
 * HostPortEnd}]`, Proto 6 tcp, 17 udp, 132 sctp. Host port 0: an ephemeral one.
 */
export function portBindings(r: Req, key: string): PortBinding[] {
  return r.array(key).map((v, i) => {
    const e = r.element(key, i, v);
    const protoNumber = e.int('Proto', 0, 255);
    const proto = PROTOS[protoNumber];
    if (!proto) throw e.bad('Proto', 'is not 6 (tcp), 17 (udp) or 132 (sctp)');
    const port = e.int('Port', 1, 65535);
    if (port === 0) throw e.bad('Port', 'is missing');
    const hostIP = e.optIp('HostIP');
    const hostPort = e.int('HostPort', 0, 65535);
    const hostPortEnd = e.int('HostPortEnd', 0, 65535);
    return {
      proto,
      port,
      ...(hostIP ? { hostIP } : {}),
      ...(hostPort ? { hostPort } : {}),
      ...(hostPortEnd && hostPortEnd !== hostPort ? { hostPortEnd } : {}),
    };
  });
}

/** A published port as Docker's EndpointOperInfo reports it (types.PortBinding). */
export function portMapOut(m: {
  proto: Proto;
  port: number;
  containerIP: string;
  hostIP: string;
  hostPort: number;
  hostPortEnd: number;
}): Record<string, unknown> {
  return {
    Proto: PROTO_NUMBERS[m.proto],
    IP: m.containerIP,
    Port: m.port,
    HostIP: m.hostIP,
    HostPort: m.hostPort,
    HostPortEnd: m.hostPortEnd,
  };
}
