/** `dnet network create`: flags to Docker's network create body, IPAM configs paired as the docker CLI pairs them. */
import {
  flag,
  keyValues,
  type Parsed,
  parse,
  positionals,
  str,
  strs,
  takeBoolFlag,
  UsageError,
} from './args.ts';
import type { Client } from './client.ts';
import type { Io } from './output.ts';
import { reportError } from './report.ts';
import { help } from './subcommand.ts';

const CREATE_USAGE = `Usage: dnet network create [OPTIONS] NETWORK

Create a network

Options:
      --attachable           Enable manual container attachment
      --aux-address name=ip  Auxiliary IPv4 or IPv6 addresses used by the network driver (repeatable)
      --config-from string   The network from which to copy the configuration
      --config-only          Create a configuration only network
  -d, --driver string        Driver to manage the network (default "bridge")
      --gateway ip           IPv4 or IPv6 gateway for the master subnet (repeatable)
      --internal             Restrict external access to the network
      --ip-range cidr        Allocate container ip from a sub-range (repeatable)
      --ipam-driver string   IP Address Management driver (default "default")
      --ipam-opt k=v         IPAM driver specific options (repeatable)
      --ipv4                 Enable IPv4 address assignment (default true; --ipv4=false with --ipv6: IPv6 only)
      --ipv6                 Enable IPv6 networking
      --label k=v            Set metadata on a network (repeatable)
  -o, --opt k=v              Set driver specific options (repeatable)
      --subnet cidr          Subnet in CIDR format that represents a network segment (repeatable)
`;

interface IpamConfig {
  Subnet: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

/** The docker CLI's pairing: each --ip-range, --gateway and --aux-address goes to the --subnet holding it. */
async function ipamConfigs(p: Parsed, usage: string): Promise<IpamConfig[]> {
  // The address parser (src/ip) is loaded here only: `network create` needs it, and loading it is
  // a noticeable part of the start-up of every other command.
  const { cidrContains, plain } = await import('../ip/index.ts');
  const configs: IpamConfig[] = strs(p, 'subnet').map((s) => ({ Subnet: s }));
  const home = (what: string, value: string): IpamConfig => {
    const matches = configs.filter((c) => cidrContains(c.Subnet, plain(value)));
    if (matches.length === 0) throw new UsageError(`no matching subnet for ${what} ${value}`, usage);
    if (matches.length > 1)
      throw new UsageError(`multiple overlapping subnets match ${what} ${value}`, usage);
    return matches[0]!;
  };
  for (const r of strs(p, 'ip-range')) {
    const c = home('range', r);
    if (c.IPRange)
      throw new UsageError(`cannot configure multiple ranges (${r}, ${c.IPRange}) on the same subnet`, usage);
    c.IPRange = r;
  }
  for (const g of strs(p, 'gateway')) {
    const c = home('gateway', g);
    if (c.Gateway)
      throw new UsageError(
        `cannot configure multiple gateways (${g}, ${c.Gateway}) for the same subnet`,
        usage,
      );
    c.Gateway = g;
  }
  for (const [name, ip] of Object.entries(keyValues(strs(p, 'aux-address'), '--aux-address', usage))) {
    const c = home('aux-address', ip);
    c.AuxiliaryAddresses = { ...c.AuxiliaryAddresses, [name]: ip };
  }
  return configs;
}

export async function networkCreate(client: Client, io: Io, args: string[]): Promise<number> {
  const { rest, value: ipv4 } = takeBoolFlag(args, 'ipv4', CREATE_USAGE);
  const p = parse(
    rest,
    {
      driver: { type: 'string', short: 'd' },
      subnet: { type: 'string', multiple: true },
      'ip-range': { type: 'string', multiple: true },
      gateway: { type: 'string', multiple: true },
      'aux-address': { type: 'string', multiple: true },
      'ipam-driver': { type: 'string' },
      'ipam-opt': { type: 'string', multiple: true },
      ipv6: { type: 'boolean' },
      internal: { type: 'boolean' },
      attachable: { type: 'boolean' },
      'config-only': { type: 'boolean' },
      'config-from': { type: 'string' },
      label: { type: 'string', multiple: true },
      opt: { type: 'string', short: 'o', multiple: true },
    },
    CREATE_USAGE,
  );
  if (flag(p, 'help')) return help(io, CREATE_USAGE);
  const [name] = positionals(p, 1, CREATE_USAGE, 'network create');
  const body = {
    Name: name,
    Driver: str(p, 'driver') ?? 'bridge',
    IPAM: {
      Driver: str(p, 'ipam-driver') ?? 'default',
      Config: await ipamConfigs(p, CREATE_USAGE),
      Options: keyValues(strs(p, 'ipam-opt'), '--ipam-opt', CREATE_USAGE),
    },
    ...(ipv4 !== undefined ? { EnableIPv4: ipv4 } : {}),
    ...(flag(p, 'ipv6') ? { EnableIPv6: true } : {}),
    Internal: flag(p, 'internal'),
    Attachable: flag(p, 'attachable'),
    ...(flag(p, 'config-only') ? { ConfigOnly: true } : {}),
    ...(str(p, 'config-from') !== undefined ? { ConfigFrom: { Network: str(p, 'config-from') } } : {}),
    Options: keyValues(strs(p, 'opt'), '--opt', CREATE_USAGE),
    Labels: keyValues(strs(p, 'label'), '--label', CREATE_USAGE),
  };
  try {
    const r = await client.post<{ Id: string; Warning: string }>('/networks/create', body);
    if (r.Warning) io.err(`WARNING: ${r.Warning}\n`);
    io.out(`${r.Id}\n`);
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}
