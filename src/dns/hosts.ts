/**
 * A container's /etc/hosts, as Docker writes it (moby libnetwork/etchosts and
 * Sandbox.buildHostsFile): the default records, then the extra hosts (`--add-host`), then the
 * container's own addresses with its names. One record per line, `<ip>\t<names>`, addresses in
 * canonical form (`fe00::`, not `fe00::0`, as Go prints them).
 *
 * With IPv6 disabled in the container, the IPv6 default lines and every IPv6 record are left out
 * (Docker's BuildNoIPv6).
 *
 * These functions are pure (content in, content out); src/dns/files.ts writes the files.
 * Every name and address is validated (src/dns/validate.ts), so nothing given can add a line.
 */
import { InvalidOptionError } from '../errors/cnm.ts';
import { MAX_UTS_NAME_LENGTH, parseIp, requireHostname, requireIp } from './validate.ts';

/** One line of a hosts file: an address and the names it answers to. */
export interface HostsRecord {
  ip: string;
  names: readonly string[];
}

/** An `--add-host` entry: one name for one address. */
export interface ExtraHost {
  name: string;
  ip: string;
}

export interface HostsOptions {
  /** The container's host name (`hostname` in the container); may itself be a dotted FQDN. */
  hostname?: string;
  /** The container's domain name; with it the names are `hostname.domainname hostname`. */
  domainname?: string;
  /** The container's own addresses, one record each with its names (needs `hostname`). */
  addresses?: readonly string[];
  /** Extra records, written after the defaults and before the container's own. */
  extraHosts?: readonly ExtraHost[];
  /** False when IPv6 is disabled in the container: IPv6 lines are left out. Default true. */
  ipv6?: boolean;
}

/** Docker's default records, IPv4 part. */
export const DEFAULT_HOSTS_IPV4: readonly HostsRecord[] = Object.freeze([
  { ip: '127.0.0.1', names: ['localhost'] },
]);

/** Docker's default records, IPv6 part (left out when IPv6 is disabled). */
export const DEFAULT_HOSTS_IPV6: readonly HostsRecord[] = Object.freeze([
  { ip: '::1', names: ['localhost', 'ip6-localhost', 'ip6-loopback'] },
  { ip: 'fe00::', names: ['ip6-localnet'] },
  { ip: 'ff00::', names: ['ip6-mcastprefix'] },
  { ip: 'ff02::1', names: ['ip6-allnodes'] },
  { ip: 'ff02::2', names: ['ip6-allrouters'] },
]);

/** Most names one record may carry (glibc has no limit; this bounds a line). */
export const MAX_NAMES_PER_RECORD = 64;
/** Most extra hosts accepted. */
export const MAX_EXTRA_HOSTS = 1024;

/** Validates a record and returns it with its address in canonical form. */
export function normalizeHostsRecord(r: HostsRecord, option = 'hosts-record'): HostsRecord {
  if (typeof r !== 'object' || r === null)
    throw new InvalidOptionError(option, r, 'a record is { ip, names }');
  const ip = requireIp(option, r.ip);
  if (!Array.isArray(r.names) || r.names.length === 0) {
    throw new InvalidOptionError(option, r, 'a record needs at least one name');
  }
  if (r.names.length > MAX_NAMES_PER_RECORD) {
    throw new InvalidOptionError(
      option,
      r.names.length,
      `a record has at most ${MAX_NAMES_PER_RECORD} names`,
    );
  }
  const names = r.names.map((n) => requireHostname(option, n, { allowUnderscore: true }));
  return { ip: ip.text, names };
}

/** `<ip>\t<name> <name>...\n`, as Docker's Record.WriteTo. Validates first. */
export function formatHostsRecord(r: HostsRecord): string {
  const n = normalizeHostsRecord(r);
  return `${n.ip}\t${n.names.join(' ')}\n`;
}

/**
 * The names of the container's own records: the FQDN (`hostname.domainname`, or the hostname as
 * given) and, when that has a dot, the bare first label too. As Docker's makeHostsRecs:
 * `web` → `web`; `web` + `example.com` → `web.example.com web`; `web.example.com` → the same.
 */
export function containerHostNames(hostname: string, domainname?: string): string[] {
  requireHostname('hostname', hostname, { maxLength: MAX_UTS_NAME_LENGTH });
  let fqdn = hostname;
  if (domainname !== undefined && domainname !== '') {
    requireHostname('domainname', domainname, { maxLength: MAX_UTS_NAME_LENGTH });
    fqdn = `${hostname}.${domainname}`;
    requireHostname('domainname', fqdn);
  }
  const dot = fqdn.indexOf('.');
  return dot > 0 ? [fqdn, fqdn.slice(0, dot)] : [fqdn];
}

/** The container's own records: one per address, each with containerHostNames. */
export function containerHostsRecords(
  hostname: string,
  domainname: string | undefined,
  addresses: readonly string[],
  opts: { ipv6?: boolean } = {},
): HostsRecord[] {
  if (addresses.length === 0) return [];
  const names = containerHostNames(hostname, domainname);
  const out: HostsRecord[] = [];
  for (const a of addresses) {
    const ip = requireIp('addresses', a);
    if (ip.family === 6 && opts.ipv6 === false) continue;
    out.push({ ip: ip.text, names });
  }
  return out;
}

/**
 * Parses a Docker `--add-host` / HostConfig.ExtraHosts entry: `name:ip` or `name=ip`, IPv6 with or
 * without brackets (`host:[::1]`, `host:::1`). `host-gateway` as the address is replaced by
 * `hostGateway` when one is given (the daemon knows the host's address), refused otherwise.
 */
export function parseExtraHost(entry: string, opts: { hostGateway?: string } = {}): ExtraHost {
  if (typeof entry !== 'string') throw new InvalidOptionError('extra-hosts', entry, 'give "name:ip"');
  // Docker's opts.ValidateExtraHost splits at the first '=' if any, else at the first ':'.
  const eq = entry.indexOf('=');
  const sep = eq >= 0 ? eq : entry.indexOf(':');
  if (sep <= 0) throw new InvalidOptionError('extra-hosts', entry, 'give "name:ip" (or "name=ip")');
  const name = entry.slice(0, sep);
  let ip = entry.slice(sep + 1);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip === 'host-gateway') {
    if (opts.hostGateway === undefined) {
      throw new InvalidOptionError(
        'extra-hosts',
        entry,
        '"host-gateway" needs the daemon\'s host gateway address',
      );
    }
    ip = opts.hostGateway;
  }
  return normalizeExtraHost({ name, ip });
}

function normalizeExtraHost(h: ExtraHost): ExtraHost {
  if (typeof h !== 'object' || h === null)
    throw new InvalidOptionError('extra-hosts', h, 'an entry is { name, ip }');
  const name = requireHostname('extra-hosts', h.name, { allowUnderscore: true });
  return { name, ip: requireIp('extra-hosts', h.ip).text };
}

/**
 * The full content of a container's /etc/hosts: defaults, extra hosts, the container's own
 * records. Throws InvalidOptionError when a name or address is not valid.
 */
export function buildHosts(opts: HostsOptions = {}): string {
  const ipv6 = opts.ipv6 !== false;
  const records: HostsRecord[] = [...DEFAULT_HOSTS_IPV4];
  if (ipv6) records.push(...DEFAULT_HOSTS_IPV6);
  const extra = opts.extraHosts ?? [];
  if (extra.length > MAX_EXTRA_HOSTS) {
    throw new InvalidOptionError('extra-hosts', extra.length, `at most ${MAX_EXTRA_HOSTS} entries`);
  }
  for (const h of extra) {
    const n = normalizeExtraHost(h);
    if (!ipv6 && n.ip.includes(':')) continue;
    records.push({ ip: n.ip, names: [n.name] });
  }
  const addresses = opts.addresses ?? [];
  if (addresses.length > 0) {
    if (opts.hostname === undefined || opts.hostname === '') {
      throw new InvalidOptionError(
        'hostname',
        opts.hostname ?? '',
        "the container's addresses need a hostname",
      );
    }
    records.push(...containerHostsRecords(opts.hostname, opts.domainname, addresses, { ipv6 }));
  } else if (opts.hostname !== undefined && opts.hostname !== '') {
    containerHostNames(opts.hostname, opts.domainname); // validate even when nothing is written yet
  }
  return records.map(formatHostsRecord).join('');
}

interface ParsedLine {
  ip: string;
  names: string[];
}

/** A record line's address (canonical) and names, or undefined for comments, blanks and junk. */
function parseLine(line: string): ParsedLine | undefined {
  const hash = line.indexOf('#');
  const fields = (hash >= 0 ? line.slice(0, hash) : line).trim().split(/\s+/);
  if (fields.length < 2 || fields[0] === '') return undefined;
  const ip = parseIp(fields[0]);
  if (typeof ip === 'string') return undefined;
  return { ip: ip.text, names: fields.slice(1) };
}

function sameRecord(a: ParsedLine, b: HostsRecord): boolean {
  return a.ip === b.ip && a.names.length === b.names.length && a.names.every((n, i) => n === b.names[i]);
}

/**
 * `content` with `records` appended (as Docker's etchosts.Add), skipping any already present with
 * the same address and names, so adding twice is harmless. IPv6 records are skipped when
 * `ipv6` is false.
 */
export function addHostsRecords(
  content: string,
  records: readonly HostsRecord[],
  opts: { ipv6?: boolean } = {},
): string {
  const present = content.split('\n').flatMap((l) => parseLine(l) ?? []);
  let out = content;
  if (out !== '' && !out.endsWith('\n')) out += '\n';
  for (const r of records) {
    const n = normalizeHostsRecord(r);
    if (opts.ipv6 === false && n.ip.includes(':')) continue;
    if (present.some((p) => sameRecord(p, n))) continue;
    present.push({ ip: n.ip, names: [...n.names] });
    out += `${n.ip}\t${n.names.join(' ')}\n`;
  }
  return out;
}

/**
 * `content` without the lines matching `records` (same address, same names in the same order:
 * as Docker's etchosts.Delete, a line the user edited is left alone). Everything else, comments
 * included, is kept as it was.
 */
export function removeHostsRecords(content: string, records: readonly HostsRecord[]): string {
  if (records.length === 0) return content;
  const wanted = records.map((r) => normalizeHostsRecord(r));
  const lines = content.split('\n');
  const trailingNewline = content.endsWith('\n');
  if (trailingNewline) lines.pop();
  const kept = lines.filter((l) => {
    const p = parseLine(l);
    return p === undefined || !wanted.some((w) => sameRecord(p, w));
  });
  if (kept.length === 0) return '';
  return kept.join('\n') + (trailingNewline ? '\n' : '');
}

/** The records of a hosts file's content (comments, blank and unparsable lines skipped). */
export function parseHosts(content: string): HostsRecord[] {
  return content.split('\n').flatMap((l) => {
    const p = parseLine(l);
    return p === undefined ? [] : [{ ip: p.ip, names: p.names }];
  });
}
