/**
 * What `dnet network ls` and `dnet sandbox ls` show: the default table's columns, and the fields
 * a `--format` template sees for each row (docker's list contexts: `.ID`, `.Name`, `.Driver`...,
 * strings as the docker CLI gives them).
 */
import type { DockerNetwork, DockerSandbox } from '../daemon/api/convert.ts';
import type { ListView } from './format.ts';
import { naturalCompare } from './output.ts';

/** Go's time.Time String() of an RFC 3339 UTC time: `2026-01-05 10:00:00.123 +0000 UTC` (docker's CreatedAt). */
export function goTime(rfc3339: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(rfc3339);
  if (!m) return rfc3339;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${frac ? `.${frac}` : ''} +0000 UTC`;
}

const labelsText = (labels: Record<string, string>): string =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');

export function networkView(noTrunc: boolean): ListView<DockerNetwork> {
  const id = (n: DockerNetwork) => (noTrunc ? n.Id : n.Id.slice(0, 12));
  return {
    headers: ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
    cells: (n) => [id(n), n.Name, n.Driver, n.Scope],
    context: (n) => ({
      ID: id(n),
      Name: n.Name,
      Driver: n.Driver,
      Scope: n.Scope,
      IPv4: String(n.EnableIPv4),
      IPv6: String(n.EnableIPv6),
      Internal: String(n.Internal),
      Labels: labelsText(n.Labels ?? {}),
      Label: (k: unknown) => (typeof k === 'string' ? (n.Labels?.[k] ?? '') : ''),
      CreatedAt: goTime(n.Created),
    }),
    fieldHeaders: {
      ID: 'NETWORK ID',
      Name: 'NAME',
      Driver: 'DRIVER',
      Scope: 'SCOPE',
      IPv4: 'IPV4',
      IPv6: 'IPV6',
      Internal: 'INTERNAL',
      Labels: 'LABELS',
      Label: 'LABEL',
      CreatedAt: 'CREATED AT',
    },
  };
}

/** A sandbox's networks: names, or for an attached (CNI) namespace name/interface; `-` when none. */
function networksText(s: DockerSandbox): string {
  return (
    Object.keys(s.Networks)
      .sort(naturalCompare)
      .map((n) => (s.External ? `${n}/${s.Networks[n]?.InterfaceName}` : n))
      .join(',') || '-'
  );
}

export function sandboxView(noTrunc: boolean): ListView<DockerSandbox> {
  const id = (s: DockerSandbox) => (noTrunc ? s.Id : s.Id.slice(0, 12));
  return {
    headers: ['CONTAINER ID', 'NAME', 'NETWORKS', 'SANDBOX KEY'],
    cells: (s) => [id(s), s.Name, networksText(s), s.SandboxKey],
    context: (s) => ({
      ID: id(s),
      Name: s.Name,
      Networks: networksText(s),
      SandboxKey: s.SandboxKey,
      Hostname: s.Hostname,
      HostNetwork: String(s.HostNetwork),
      CreatedAt: goTime(s.Created),
    }),
    fieldHeaders: {
      ID: 'CONTAINER ID',
      Name: 'NAME',
      Networks: 'NETWORKS',
      SandboxKey: 'SANDBOX KEY',
      Hostname: 'HOSTNAME',
      HostNetwork: 'HOST NETWORK',
      CreatedAt: 'CREATED AT',
    },
  };
}
