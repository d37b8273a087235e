/**
 * Docker Engine as a stack (issue 18): Debian's docker.io (dockerd 20.10 and its own bridge driver,
 * iptables), started inside the benchmark's throwaway world by test/harness/dockerd.ts (its own
 * data and exec roots on the world's /run, a busybox image imported offline). One attach is
 * `POST /networks/{id}/connect` of a running busybox container to a user-defined bridge network,
 * one detach `POST /networks/{id}/disconnect`, over dockerd's unix socket (keep-alive HTTP), as
 * `docker network connect` sends them.
 *
 * The containers are made and started outside the timing (a small pool, reused: a container is
 * disconnected from every network while it waits). Docker publishes a container's ports at
 * create (HostConfig.PortBindings), not per connect, so these connects publish no port: Docker's
 * figure is for less work than the others' (namespace already made, no port), never more.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent } from 'node:http';
import {
  BUSYBOX_IMAGE,
  DOCKER_BIN,
  DOCKERD_BIN,
  type Dockerd,
  startDockerd,
} from '../../test/harness/dockerd.ts';
import { type UnixReply, unixCall } from '../lib.ts';
import type { Container, Subject } from './subject.ts';

type Reply = UnixReply;

export function dockerMissing(): string | undefined {
  for (const bin of [DOCKERD_BIN, DOCKER_BIN])
    if (!existsSync(bin)) return `${bin} not found (Debian package docker.io)`;
  return undefined;
}

function dockerVersion(): string {
  try {
    const out = execFileSync('dpkg-query', ['-W', 'docker.io'], { stdio: ['ignore', 'pipe', 'ignore'] });
    return out.toString().trim().split('\t')[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export class DockerEngine implements Subject {
  readonly key = 'docker';
  readonly label = 'Docker Engine';
  readonly version = dockerVersion();
  readonly does =
    'dockerd (its bridge driver, iptables) in the world: POST /networks/{id}/connect of a running busybox ' +
    'container (made and started untimed; no published port: Docker publishes at container create); ' +
    'detach: POST /networks/{id}/disconnect';
  readonly concurrent = false;
  readonly resident = 0;
  private dockerd: Dockerd | undefined;
  private netId = '';
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  /** Running containers not connected to the network. */
  private readonly free: string[] = [];
  /** Which docker container plays each bench container. */
  private readonly playing = new Map<string, string>();

  constructor(private readonly subnet = '10.74.0.0/16') {}

  private call(method: string, path: string, body?: unknown): Promise<Reply> {
    const socket = this.dockerd?.socket;
    if (!socket) throw new Error('dockerd is not running');
    return unixCall(socket, this.agent, method, `/v1.41${path}`, body);
  }

  private async ok(what: string, r: Promise<Reply>): Promise<Reply> {
    const reply = await r;
    if (reply.status >= 300) throw new Error(`dockerd: ${what}: HTTP ${reply.status}: ${reply.body.trim()}`);
    return reply;
  }

  async setup(): Promise<void> {
    this.dockerd = await startDockerd();
    const r = await this.ok(
      'create network',
      this.call('POST', '/networks/create', {
        Name: 'bench',
        Driver: 'bridge',
        IPAM: { Config: [{ Subnet: this.subnet }] },
        Options: { 'com.docker.network.bridge.name': 'dkbr0' },
      }),
    );
    this.netId = (JSON.parse(r.body) as { Id: string }).Id;
  }

  /** A running container connected to no network (made when none is free). */
  private async container(): Promise<string> {
    const have = this.free.pop();
    if (have) return have;
    const d = this.dockerd;
    if (!d) throw new Error('dockerd is not running');
    const id = (await d.docker('run', '-d', '--network', 'bench', BUSYBOX_IMAGE, 'sleep', '1000000')).trim();
    await this.ok(
      'disconnect a new container',
      this.call('POST', `/networks/${this.netId}/disconnect`, { Container: id }),
    );
    return id;
  }

  async attach(c: Container): Promise<number> {
    const id = await this.container();
    const t = performance.now();
    await this.ok('connect', this.call('POST', `/networks/${this.netId}/connect`, { Container: id }));
    const us = (performance.now() - t) * 1000;
    this.playing.set(c.id, id);
    return us;
  }

  async detach(c: Container): Promise<number> {
    const id = this.playing.get(c.id);
    if (!id) throw new Error(`docker: container ${c.serial} is not attached`);
    const t = performance.now();
    await this.ok('disconnect', this.call('POST', `/networks/${this.netId}/disconnect`, { Container: id }));
    const us = (performance.now() - t) * 1000;
    this.playing.delete(c.id);
    this.free.push(id);
    return us;
  }

  async teardown(): Promise<void> {
    this.agent.destroy();
    await this.dockerd?.stop();
    this.dockerd = undefined;
  }
}
