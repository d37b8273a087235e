/** `dnet network create|ls|inspect|rm|connect|disconnect|prune`. */
import type { DockerNetwork } from '../daemon/api/convert.ts';
import {
  type DockerPortBinding,
  flag,
  keyValues,
  parse,
  parsePublish,
  positionals,
  str,
  strs,
  UsageError,
} from './args.ts';
import { type Client, DaemonError } from './client.ts';
import { parseFormat, renderInspect, renderList } from './format.ts';
import { networkCreate } from './network-create.ts';
import { type Io, naturalCompare } from './output.ts';
import { reportError } from './report.ts';
import { help, runSubcommand, type Subcommand } from './subcommand.ts';
import { networkView } from './views.ts';

export const NETWORK_USAGE = `Usage: dnet network COMMAND

Manage networks

Commands:
  connect     Connect a container to a network
  create      Create a network
  disconnect  Disconnect a container from a network
  inspect     Display detailed information on one or more networks
  ls          List networks
  prune       Remove all unused networks
  rm          Remove one or more networks

Run 'dnet network COMMAND --help' for more information on a command.
`;

const LS_USAGE = `Usage: dnet network ls [OPTIONS]

List networks

Options:
  -f, --filter k=v      Provide filter values (e.g. "driver=bridge"; keys: dangling, driver, id, label, name, scope, type)
      --format string   table (default), json, a Go template ('{{.Name}}', '{{json .}}'), or
                        'table TEMPLATE' ('table {{.ID}}\\t{{.Name}}'); fields: .ID .Name .Driver
                        .Scope .IPv4 .IPv6 .Internal .Labels .Label "k" .CreatedAt (docs/cli-format.md)
      --no-trunc        Do not truncate the output
  -q, --quiet           Only display network IDs
`;

const INSPECT_USAGE = `Usage: dnet network inspect [OPTIONS] NETWORK [NETWORK...]

Display detailed information on one or more networks (JSON)

Options:
  -f, --format string   json (the default), or a Go template applied to each network
                        ('{{.Name}} {{.IPAM.Config}}', '{{json .Options}}'; docs/cli-format.md)
`;

const RM_USAGE = `Usage: dnet network rm [OPTIONS] NETWORK [NETWORK...]

Remove one or more networks

Options:
  -f, --force   Do not error if the network does not exist
`;

const CONNECT_USAGE = `Usage: dnet network connect [OPTIONS] NETWORK CONTAINER

Connect a container to a network (a container dnet does not know yet gets a sandbox)

Options:
      --alias string         Add network-scoped alias for the container (repeatable)
      --driver-opt k=v       Driver options for the network (repeatable)
      --ip ip                IPv4 address (e.g., "172.30.100.104")
      --ip6 ip               IPv6 address (e.g., "2001:db8::33")
      --mac-address string   MAC address (e.g., "92:d0:c6:0a:29:33")
  -p, --publish list         Publish a port: [ip:]host:container[/proto], host and container ports or ranges (repeatable)
`;

const DISCONNECT_USAGE = `Usage: dnet network disconnect [OPTIONS] NETWORK CONTAINER

Disconnect a container from a network

Options:
  -f, --force   Force the container to disconnect from a network
`;

const PRUNE_USAGE = `Usage: dnet network prune [OPTIONS]

Remove all unused networks (not pre-defined, no container connected)

Options:
      --filter k=v   Provide filter values (e.g. "until=24h"; keys: until, label, label!)
  -f, --force        Do not prompt for confirmation
`;

/** Docker's filters JSON from `k=v` flags: `{"k":{"v":true}}`. */
export function filtersJson(list: string[], usage: string): string | undefined {
  if (list.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${kv}`, usage);
    const k = kv.slice(0, eq).trim().toLowerCase();
    out[k] = { ...out[k], [kv.slice(eq + 1)]: true };
  }
  return JSON.stringify(out);
}

async function ls(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      filter: { type: 'string', short: 'f', multiple: true },
      format: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      'no-trunc': { type: 'boolean' },
    },
    LS_USAGE,
  );
  if (flag(p, 'help')) return help(io, LS_USAGE);
  positionals(p, 0, LS_USAGE, 'network ls');
  const fmt = parseFormat(str(p, 'format'), 'table', LS_USAGE);
  const filters = filtersJson(strs(p, 'filter'), LS_USAGE);
  try {
    const list = await client.get<DockerNetwork[]>('/networks', { filters });
    list.sort((a, b) => naturalCompare(a.Name, b.Name));
    const view = networkView(flag(p, 'no-trunc'));
    if (flag(p, 'quiet')) io.out(list.map((n) => `${view.cells(n)[0]}\n`).join(''));
    else io.out(renderList(list, list, fmt, view));
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}

/**
 * `inspect` of networks and sandboxes: GET each object, print the ones found as one JSON array,
 * report the others; the status is the last error's.
 */
export async function inspectEach(
  client: Client,
  io: Io,
  args: string[],
  usage: string,
  command: string,
  path: string,
): Promise<number> {
  const p = parse(args, { format: { type: 'string', short: 'f' } }, usage);
  if (flag(p, 'help')) return help(io, usage);
  const refs = positionals(p, 1, usage, command, true);
  const fmt = parseFormat(str(p, 'format'), 'json', usage);
  const found: unknown[] = [];
  let status = 0;
  for (const r of refs) {
    try {
      found.push(await client.get<unknown>(`${path}/${encodeURIComponent(r)}`));
    } catch (err) {
      status = reportError(io, err);
    }
  }
  try {
    io.out(renderInspect(found, fmt));
  } catch (err) {
    return reportError(io, err);
  }
  return status;
}

function inspect(client: Client, io: Io, args: string[]): Promise<number> {
  return inspectEach(client, io, args, INSPECT_USAGE, 'network inspect', '/networks');
}

async function rm(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(args, { force: { type: 'boolean', short: 'f' } }, RM_USAGE);
  if (flag(p, 'help')) return help(io, RM_USAGE);
  const names = positionals(p, 1, RM_USAGE, 'network rm', true);
  let status = 0;
  for (const n of names) {
    try {
      await client.delete(`/networks/${encodeURIComponent(n)}`);
      io.out(`${n}\n`);
    } catch (err) {
      if (flag(p, 'force') && err instanceof DaemonError && err.status === 404) continue;
      status = reportError(io, err);
    }
  }
  return status;
}

async function connect(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      ip: { type: 'string' },
      ip6: { type: 'string' },
      'mac-address': { type: 'string' },
      alias: { type: 'string', multiple: true },
      'driver-opt': { type: 'string', multiple: true },
      publish: { type: 'string', short: 'p', multiple: true },
    },
    CONNECT_USAGE,
  );
  if (flag(p, 'help')) return help(io, CONNECT_USAGE);
  const [network, container] = positionals(p, 2, CONNECT_USAGE, 'network connect');
  const ports: Record<string, DockerPortBinding[]> = {};
  for (const spec of strs(p, 'publish')) {
    const { key, binding } = parsePublish(spec, CONNECT_USAGE);
    ports[key] = [...(ports[key] ?? []), binding];
  }
  const ip = str(p, 'ip');
  const ip6 = str(p, 'ip6');
  const body = {
    Container: container,
    EndpointConfig: {
      ...(ip || ip6 ? { IPAMConfig: { IPv4Address: ip ?? '', IPv6Address: ip6 ?? '' } } : {}),
      Aliases: strs(p, 'alias'),
      ...(str(p, 'mac-address') ? { MacAddress: str(p, 'mac-address') } : {}),
      DriverOpts: keyValues(strs(p, 'driver-opt'), '--driver-opt', CONNECT_USAGE),
      ...(Object.keys(ports).length > 0 ? { PortBindings: ports } : {}),
    },
  };
  try {
    await client.post(`/networks/${encodeURIComponent(network!)}/connect`, body);
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}

async function disconnect(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(args, { force: { type: 'boolean', short: 'f' } }, DISCONNECT_USAGE);
  if (flag(p, 'help')) return help(io, DISCONNECT_USAGE);
  const [network, container] = positionals(p, 2, DISCONNECT_USAGE, 'network disconnect');
  try {
    await client.post(`/networks/${encodeURIComponent(network!)}/disconnect`, {
      Container: container,
      Force: flag(p, 'force'),
    });
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}

async function prune(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(
    args,
    { filter: { type: 'string', multiple: true }, force: { type: 'boolean', short: 'f' } },
    PRUNE_USAGE,
  );
  if (flag(p, 'help')) return help(io, PRUNE_USAGE);
  positionals(p, 0, PRUNE_USAGE, 'network prune');
  const filters = filtersJson(strs(p, 'filter'), PRUNE_USAGE);
  if (!flag(p, 'force')) {
    const answer = await io.readLine(
      'WARNING! This will remove all custom networks not used by at least one container.\n' +
        'Are you sure you want to continue? [y/N] ',
    );
    if (!/^y(es)?$/i.test((answer ?? '').trim())) {
      io.err('network prune cancelled\n');
      return 1;
    }
  }
  try {
    const r = await client.post<{ NetworksDeleted: string[] | null }>('/networks/prune', undefined, {
      filters,
    });
    const deleted = r.NetworksDeleted ?? [];
    if (deleted.length > 0) io.out(`Deleted Networks:\n${deleted.map((n) => `${n}\n`).join('')}`);
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}

const NETWORK_COMMANDS: Readonly<Record<string, Subcommand>> = {
  create: networkCreate,
  ls,
  list: ls,
  inspect,
  rm,
  remove: rm,
  connect,
  disconnect,
  prune,
};

export function networkCommand(client: () => Client, io: Io, args: string[]): Promise<number> {
  return runSubcommand('network', NETWORK_COMMANDS, NETWORK_USAGE, client, io, args);
}
