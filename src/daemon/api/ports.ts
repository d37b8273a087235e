/**
 * Published ports in Docker's shape (a container's `HostConfig.PortBindings` and
 * `NetworkSettings.Ports`): `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`, keys
 * `port[-end][/proto]`, host ports `""` (ephemeral), `"8080"` or `"8000-8010"`. Converted to and
 * from the core's ExposedPort / PortBinding / PortMapping.
 */
import type { ExposedPort, PortBinding, PortMapping, Proto } from '../../driver-api/driver.ts';
import { BadRequestError } from './errors.ts';

export interface DockerPortBinding {
  HostIp: string;
  HostPort: string;
}

export type DockerPortMap = Record<string, DockerPortBinding[] | null>;

const KEY_RE = /^([0-9]{1,5})(?:-([0-9]{1,5}))?(?:\/([A-Za-z]+))?$/;
const HOST_PORT_RE = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/;

function portNumber(at: string, s: string, min = 1): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > 65535) {
    throw new BadRequestError(`invalid port ${JSON.stringify(s)} in ${at}: expected ${min}-65535`);
  }
  return n;
}

/** Parses a PortBindings object into the exposed ports and the bindings it asks for. */
export function parsePortBindings(
  at: string,
  value: unknown,
): { exposedPorts: ExposedPort[]; portBindings: PortBinding[] } {
  const exposedPorts: ExposedPort[] = [];
  const portBindings: PortBinding[] = [];
  if (value === undefined || value === null) return { exposedPorts, portBindings };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new BadRequestError(
      `invalid JSON: ${at} must be an object like {"80/tcp": [{"HostPort": "8080"}]}`,
    );
  }
  for (const [key, list] of Object.entries(value as Record<string, unknown>)) {
    const where = `${at}[${JSON.stringify(key)}]`;
    const m = KEY_RE.exec(key);
    if (!m)
      throw new BadRequestError(`invalid port ${JSON.stringify(key)} in ${at}: expected port[-end][/proto]`);
    const proto = (m[3] ?? 'tcp').toLowerCase();
    if (!isProto(proto)) {
      throw new BadRequestError(
        `invalid protocol ${JSON.stringify(m[3])} in ${where}: expected tcp, udp or sctp`,
      );
    }
    const port = portNumber(where, m[1]!);
    const portEnd = m[2] === undefined ? port : portNumber(where, m[2]);
    if (portEnd < port) throw new BadRequestError(`invalid port range ${JSON.stringify(key)} in ${at}`);
    for (let p = port; p <= portEnd; p++) exposedPorts.push({ proto, port: p });
    if (list === null || list === undefined) continue;
    if (!Array.isArray(list))
      throw new BadRequestError(`invalid JSON: ${where} must be an array of bindings`);
    for (const [i, b] of list.entries()) {
      const bAt = `${where}[${i}]`;
      if (typeof b !== 'object' || b === null || Array.isArray(b)) {
        throw new BadRequestError(`invalid JSON: ${bAt} must be an object {"HostIp", "HostPort"}`);
      }
      const rec = b as Record<string, unknown>;
      const hostIp = rec.HostIp ?? rec.HostIP ?? '';
      const hostPortRaw = rec.HostPort ?? '';
      if (typeof hostIp !== 'string')
        throw new BadRequestError(`invalid JSON: ${bAt}.HostIp must be a string`);
      if (typeof hostPortRaw !== 'string') {
        throw new BadRequestError(`invalid JSON: ${bAt}.HostPort must be a string`);
      }
      const binding: PortBinding = { proto, port, ...(portEnd !== port ? { portEnd } : {}) };
      const ip = hostIp.replace(/^\[(.*)\]$/, '$1');
      if (ip !== '') binding.hostIP = ip;
      if (hostPortRaw !== '') {
        const hm = HOST_PORT_RE.exec(hostPortRaw);
        if (!hm) {
          throw new BadRequestError(
            `invalid host port ${JSON.stringify(hostPortRaw)} in ${bAt}: expected "8080" or "8000-8010"`,
          );
        }
        binding.hostPort = portNumber(bAt, hm[1]!, 0);
        if (hm[2] !== undefined) binding.hostPortEnd = portNumber(bAt, hm[2], 0);
      }
      portBindings.push(binding);
    }
  }
  return { exposedPorts, portBindings };
}

/** Port mappings in effect, in Docker's NetworkSettings.Ports shape (one key per port). */
export function portMapOf(mappings: readonly PortMapping[]): DockerPortMap {
  const out: DockerPortMap = {};
  for (const m of mappings) {
    const span = m.portEnd - m.port;
    for (let i = 0; i <= span; i++) {
      const key = `${m.port + i}/${m.proto}`;
      const hostPort = m.hostPortEnd - m.hostPort === span ? m.hostPort + i : m.hostPort;
      out[key] = [...(out[key] ?? []), { HostIp: m.hostIP, HostPort: String(hostPort) }];
    }
  }
  return out;
}

export function isProto(s: string): s is Proto {
  return s === 'tcp' || s === 'udp' || s === 'sctp';
}
