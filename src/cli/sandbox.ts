/** `dnet sandbox create|ls|inspect|rm`: containers' network stacks, through the native API. */
import type { DockerSandbox } from '../daemon/api/convert.ts';
import { flag, parse, positionals, str, strs } from './args.ts';
import type { Client } from './client.ts';
import { parseFormat, renderList } from './format.ts';
import { inspectEach } from './network.ts';
import { type Io, naturalCompare } from './output.ts';
import { reportError } from './report.ts';
import { help, runSubcommand, type Subcommand } from './subcommand.ts';
import { sandboxView } from './views.ts';

export const SANDBOX_USAGE = `Usage: dnet sandbox COMMAND

Manage sandboxes (a container's network namespace, hosts and resolv.conf)

Commands:
  create      Create a sandbox
  inspect     Display detailed information on one or more sandboxes
  ls          List sandboxes
  rm          Remove one or more sandboxes (their endpoints leave first)

Run 'dnet sandbox COMMAND --help' for more information on a command.
`;

const CREATE_USAGE = `Usage: dnet sandbox create [OPTIONS]

Create a sandbox for a container; prints the container's ID

Options:
      --add-host name:ip     Add a custom host-to-IP mapping (repeatable; ip may be host-gateway)
      --container-id id      The container's ID (64 hex characters; default: a new one)
      --dns ip               Set custom DNS servers (repeatable)
      --dns-option string    Set DNS options (repeatable)
      --dns-search domain    Set custom DNS search domains (repeatable)
      --domainname string    Container NIS domain name
      --host-network         Use the host's network namespace (joins the host network)
      --hostname string      Container host name (default: the short ID)
      --name string          The container's name (default: the short ID)
`;

const LS_USAGE = `Usage: dnet sandbox ls [OPTIONS]

List sandboxes

Options:
      --format string   table (default), json, a Go template ('{{.Name}}', '{{json .}}'), or
                        'table TEMPLATE'; fields: .ID .Name .Networks .SandboxKey .Hostname
                        .HostNetwork .CreatedAt (docs/cli-format.md)
      --no-trunc        Do not truncate the output
  -q, --quiet           Only display container IDs
`;

const INSPECT_USAGE = `Usage: dnet sandbox inspect SANDBOX [SANDBOX...]

Display detailed information on one or more sandboxes (JSON), named by container ID or name

Options:
  -f, --format string   json (the default), or a Go template applied to each sandbox
                        ('{{.Name}} {{.SandboxKey}}', '{{range $n, $e := .Networks}}{{$n}}={{$e.IPAddress}} {{end}}')
`;

const RM_USAGE = `Usage: dnet sandbox rm SANDBOX [SANDBOX...]

Remove one or more sandboxes, named by container ID or name: their endpoints leave the networks
and are deleted, then the namespace and files go
`;

async function create(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      name: { type: 'string' },
      'container-id': { type: 'string' },
      hostname: { type: 'string' },
      domainname: { type: 'string' },
      dns: { type: 'string', multiple: true },
      'dns-search': { type: 'string', multiple: true },
      'dns-option': { type: 'string', multiple: true },
      'add-host': { type: 'string', multiple: true },
      'host-network': { type: 'boolean' },
    },
    CREATE_USAGE,
  );
  if (flag(p, 'help')) return help(io, CREATE_USAGE);
  positionals(p, 0, CREATE_USAGE, 'sandbox create');
  const opt = (k: string, v: unknown) =>
    v === undefined || (Array.isArray(v) && v.length === 0) ? {} : { [k]: v };
  const body = {
    ...opt('ContainerID', str(p, 'container-id')),
    ...opt('Name', str(p, 'name')),
    ...opt('Hostname', str(p, 'hostname')),
    ...opt('Domainname', str(p, 'domainname')),
    ...opt('DNS', strs(p, 'dns')),
    ...opt('DNSSearch', strs(p, 'dns-search')),
    ...opt('DNSOptions', strs(p, 'dns-option')),
    ...opt('ExtraHosts', strs(p, 'add-host')),
    UseHostNetwork: flag(p, 'host-network'),
  };
  try {
    const r = await client.post<{ Id: string; SandboxKey: string }>('/sandboxes', body);
    io.out(`${r.Id}\n`);
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}

async function ls(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(
    args,
    { format: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, 'no-trunc': { type: 'boolean' } },
    LS_USAGE,
  );
  if (flag(p, 'help')) return help(io, LS_USAGE);
  positionals(p, 0, LS_USAGE, 'sandbox ls');
  const fmt = parseFormat(str(p, 'format'), 'table', LS_USAGE);
  try {
    const list = await client.get<DockerSandbox[]>('/sandboxes');
    list.sort((a, b) => naturalCompare(a.Name, b.Name));
    const view = sandboxView(flag(p, 'no-trunc'));
    if (flag(p, 'quiet')) io.out(list.map((s) => `${view.cells(s)[0]}\n`).join(''));
    else io.out(renderList(list, list, fmt, view));
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}

function inspect(client: Client, io: Io, args: string[]): Promise<number> {
  return inspectEach(client, io, args, INSPECT_USAGE, 'sandbox inspect', '/sandboxes');
}

async function rm(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(args, {}, RM_USAGE);
  if (flag(p, 'help')) return help(io, RM_USAGE);
  const refs = positionals(p, 1, RM_USAGE, 'sandbox rm', true);
  let status = 0;
  for (const r of refs) {
    try {
      await client.delete(`/sandboxes/${encodeURIComponent(r)}`);
      io.out(`${r}\n`);
    } catch (err) {
      status = reportError(io, err);
    }
  }
  return status;
}

const SANDBOX_COMMANDS: Readonly<Record<string, Subcommand>> = {
  create,
  ls,
  list: ls,
  inspect,
  rm,
  remove: rm,
};

export function sandboxCommand(client: () => Client, io: Io, args: string[]): Promise<number> {
  return runSubcommand('sandbox', SANDBOX_COMMANDS, SANDBOX_USAGE, client, io, args);
}
