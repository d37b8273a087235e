/** `dnet info`: the daemon's system information, with the network settings in effect. */
import { flag, parse, positionals, str } from './args.ts';
import type { Client } from './client.ts';
import { parseFormat, renderInspect } from './format.ts';
import { type Io, json } from './output.ts';
import { reportError } from './report.ts';
import { help } from './subcommand.ts';

export const INFO_USAGE = `Usage: dnet info [OPTIONS]

Display system-wide information: the daemon's version, counts, and the network settings in
effect (dnet daemon --bip, --default-address-pool, --mtu, --dns...; GET /info's DnetNetworkSettings)

Options:
  -f, --format string   json, or a Go template ('{{.DnetNetworkSettings.bip}}',
                        '{{json .DefaultAddressPools}}'; docs/cli-format.md)
`;

interface Info {
  ServerVersion: string;
  Containers: number;
  KernelVersion: string;
  OperatingSystem: string;
  DockerRootDir: string;
  IPv4Forwarding?: boolean;
  Plugins?: { Network?: string[] };
  DefaultAddressPools?: { Base: string; Size: number }[];
  DnetNetworkSettings?: Record<string, unknown>;
}

const show = (v: unknown): string =>
  Array.isArray(v)
    ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ')
    : String(v);

export async function infoCommand(client: Client, io: Io, args: string[]): Promise<number> {
  const p = parse(args, { format: { type: 'string', short: 'f' } }, INFO_USAGE);
  if (flag(p, 'help')) return help(io, INFO_USAGE);
  positionals(p, 0, INFO_USAGE, 'info');
  const fmt = parseFormat(str(p, 'format'), 'table', INFO_USAGE);
  try {
    const info = await client.get<Info>('/info');
    if (fmt.kind === 'json') io.out(json(info));
    else if (fmt.kind === 'template') io.out(renderInspect([info], fmt));
    else {
      const lines = [
        'Server:',
        ` Server Version: ${info.ServerVersion}`,
        ` Containers: ${info.Containers}`,
        ` Network drivers: ${(info.Plugins?.Network ?? []).join(' ')}`,
        ` Kernel Version: ${info.KernelVersion}`,
        ` Data Dir: ${info.DockerRootDir}`,
        ` IPv4 Forwarding: ${info.IPv4Forwarding ? 'enabled' : 'disabled'}`,
        ' Default Address Pools:',
        ...(info.DefaultAddressPools ?? []).map((x) => `   Base: ${x.Base}, Size: ${x.Size}`),
        ' Network Settings:',
        ...Object.entries(info.DnetNetworkSettings ?? {}).map(([k, v]) => `   ${k}: ${show(v)}`),
      ];
      io.out(`${lines.join('\n')}\n`);
    }
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}
