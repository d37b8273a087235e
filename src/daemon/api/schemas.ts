/**
 * Request bodies: checked once, at the boundary, into typed requests. Field names are Docker's and,
 * as Go's encoding/json reads them, matched exactly first, then case-insensitively; `null` is the
 * same as absent; unknown fields are ignored (as dockerd does). A field of the wrong type is a 400
 * that names the field.
 */
import type { ExposedPort, PortBinding } from '../../driver-api/driver.ts';
import { BadRequestError } from './errors.ts';
import { parsePortBindings } from './ports.ts';

type JsonObject = Record<string, unknown>;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** A JSON object being read, with the path used in error messages. */
export class Fields {
  private constructor(
    private readonly obj: JsonObject,
    private readonly path: string,
  ) {}

  /** The request body: an object, or nothing (an empty body reads as `{}`, as in dockerd). */
  static body(v: unknown): Fields {
    if (v === undefined || v === null) return new Fields({}, '');
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw new BadRequestError(`invalid JSON: the request body must be a JSON object, got ${typeName(v)}`);
    }
    return new Fields(v as JsonObject, '');
  }

  private at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** The value of `key` (exact match first, then case-insensitive); null reads as undefined. */
  raw(key: string): unknown {
    let v = this.obj[key];
    if (!Object.hasOwn(this.obj, key)) {
      const lower = key.toLowerCase();
      const k = Object.keys(this.obj).find((x) => x.toLowerCase() === lower);
      v = k === undefined ? undefined : this.obj[k];
    }
    return v === null ? undefined : v;
  }

  private fail(key: string, expected: string, got: unknown): never {
    throw new BadRequestError(`invalid JSON: ${this.at(key)} must be ${expected}, got ${typeName(got)}`);
  }

  string(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === 'string') return v;
    return this.fail(key, 'a string', v);
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined || typeof v === 'boolean') return v;
    return this.fail(key, 'a boolean', v);
  }

  stringArray(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      return this.fail(key, 'an array of strings', v);
    }
    return [...(v as string[])];
  }

  stringMap(key: string): Record<string, string> | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) return this.fail(key, 'an object of strings', v);
    for (const [k, x] of Object.entries(v as JsonObject)) {
      if (typeof x !== 'string') {
        throw new BadRequestError(`invalid JSON: ${this.at(key)}.${k} must be a string, got ${typeName(x)}`);
      }
    }
    return { ...(v as Record<string, string>) };
  }

  object(key: string): Fields | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) return this.fail(key, 'an object', v);
    return new Fields(v as JsonObject, this.at(key));
  }

  objectArray(key: string): Fields[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return this.fail(key, 'an array', v);
    return v.map((x, i) => {
      const at = `${this.at(key)}[${i}]`;
      if (typeof x !== 'object' || x === null || Array.isArray(x)) {
        throw new BadRequestError(`invalid JSON: ${at} must be an object, got ${typeName(x)}`);
      }
      return new Fields(x as JsonObject, at);
    });
  }

  /** The path of `key`, for messages of callers. */
  pathOf(key: string): string {
    return this.at(key);
  }
}

// --- POST /networks/create ---------------------------------------------------------------------

export interface IpamConfigRequest {
  subnet?: string;
  ipRange?: string;
  gateway?: string;
  auxAddresses?: Record<string, string>;
}

export interface NetworkCreateRequest {
  name: string;
  driver: string;
  scope: string;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  configOnly: boolean;
  configFrom: string;
  enableIPv4?: boolean;
  enableIPv6?: boolean;
  ipam: { driver: string; config: IpamConfigRequest[]; options: Record<string, string> };
  options: Record<string, string>;
  labels: Record<string, string>;
}

const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);

export function parseNetworkCreate(body: unknown): NetworkCreateRequest {
  const f = Fields.body(body);
  f.bool('CheckDuplicate'); // deprecated in API 1.44; names are always unique
  const ipam = f.object('IPAM');
  const config = (ipam?.objectArray('Config') ?? []).map((c): IpamConfigRequest => {
    const subnet = nonEmpty(c.string('Subnet'));
    const ipRange = nonEmpty(c.string('IPRange'));
    const gateway = nonEmpty(c.string('Gateway'));
    const aux = c.stringMap('AuxiliaryAddresses') ?? c.stringMap('AuxAddress');
    return {
      ...(subnet ? { subnet } : {}),
      ...(ipRange ? { ipRange } : {}),
      ...(gateway ? { gateway } : {}),
      ...(aux && Object.keys(aux).length > 0 ? { auxAddresses: aux } : {}),
    };
  });
  const enableIPv4 = f.bool('EnableIPv4');
  const enableIPv6 = f.bool('EnableIPv6');
  return {
    name: f.string('Name') ?? '',
    driver: nonEmpty(f.string('Driver')) ?? 'bridge',
    scope: f.string('Scope') ?? '',
    internal: f.bool('Internal') ?? false,
    attachable: f.bool('Attachable') ?? false,
    ingress: f.bool('Ingress') ?? false,
    configOnly: f.bool('ConfigOnly') ?? false,
    configFrom: f.object('ConfigFrom')?.string('Network') ?? '',
    ...(enableIPv4 !== undefined ? { enableIPv4 } : {}),
    ...(enableIPv6 !== undefined ? { enableIPv6 } : {}),
    ipam: {
      driver: nonEmpty(ipam?.string('Driver')) ?? 'default',
      config,
      options: ipam?.stringMap('Options') ?? {},
    },
    options: f.stringMap('Options') ?? {},
    labels: f.stringMap('Labels') ?? {},
  };
}

// --- POST /networks/{id}/connect and /disconnect -----------------------------------------------

export interface ConnectRequest {
  container: string;
  ipv4Address?: string;
  ipv6Address?: string;
  linkLocalIPs: string[];
  aliases: string[];
  links: string[];
  macAddress?: string;
  driverOpts: Record<string, string>;
  exposedPorts: ExposedPort[];
  portBindings: PortBinding[];
}

function requiredContainer(f: Fields): string {
  const c = f.string('Container');
  if (c === undefined || c === '') {
    throw new BadRequestError('invalid request: Container is required (a container ID or name)');
  }
  return c;
}

export function parseConnect(body: unknown): ConnectRequest {
  const f = Fields.body(body);
  const container = requiredContainer(f);
  const ep = f.object('EndpointConfig');
  const ipam = ep?.object('IPAMConfig');
  const ipv4Address = nonEmpty(ipam?.string('IPv4Address'));
  const ipv6Address = nonEmpty(ipam?.string('IPv6Address'));
  const macAddress = nonEmpty(ep?.string('MacAddress'));
  const ports = parsePortBindings(
    ep?.pathOf('PortBindings') ?? 'EndpointConfig.PortBindings',
    ep?.raw('PortBindings'),
  );
  return {
    container,
    ...(ipv4Address ? { ipv4Address } : {}),
    ...(ipv6Address ? { ipv6Address } : {}),
    linkLocalIPs: (ipam?.stringArray('LinkLocalIPs') ?? []).filter((s) => s !== ''),
    aliases: ep?.stringArray('Aliases') ?? [],
    links: ep?.stringArray('Links') ?? [],
    ...(macAddress ? { macAddress } : {}),
    driverOpts: ep?.stringMap('DriverOpts') ?? {},
    ...ports,
  };
}

export interface DisconnectRequest {
  container: string;
  force: boolean;
}

export function parseDisconnect(body: unknown): DisconnectRequest {
  const f = Fields.body(body);
  return { container: requiredContainer(f), force: f.bool('Force') ?? false };
}

// --- POST /sandboxes ---------------------------------------------------------------------------

export interface SandboxCreateRequest {
  containerId?: string;
  name?: string;
  hostname?: string;
  domainname?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** As given: `name:ip` or `name=ip`. */
  extraHosts: string[];
  useHostNetwork: boolean;
}

export function parseSandboxCreate(body: unknown): SandboxCreateRequest {
  const f = Fields.body(body);
  const containerId = nonEmpty(f.string('ContainerID'));
  const name = nonEmpty(f.string('Name'));
  const hostname = nonEmpty(f.string('Hostname'));
  const domainname = nonEmpty(f.string('Domainname'));
  const dns = f.stringArray('DNS');
  const dnsSearch = f.stringArray('DNSSearch');
  const dnsOptions = f.stringArray('DNSOptions');
  return {
    ...(containerId ? { containerId } : {}),
    ...(name ? { name } : {}),
    ...(hostname ? { hostname } : {}),
    ...(domainname ? { domainname } : {}),
    ...(dns ? { dns } : {}),
    ...(dnsSearch ? { dnsSearch } : {}),
    ...(dnsOptions ? { dnsOptions } : {}),
    extraHosts: f.stringArray('ExtraHosts') ?? [],
    useHostNetwork: f.bool('UseHostNetwork') ?? false,
  };
}
