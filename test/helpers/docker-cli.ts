/** The docker CLI (a client only) against a daemon's unix socket, as the kernel tests run it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { runProgram } from './cli.ts';

/** The docker CLI's path, or undefined when it is not installed. */
export function dockerCli(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** A finished docker command. */
export interface DockerRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * The docker CLI on `sock` with its own config directory `home`: `docker(...)` runs a command
 * asynchronously (a daemon in this process keeps answering), `ok(...)` also asserts it succeeded
 * and gives its trimmed output. `bin` is undefined when the CLI is not installed.
 */
export function dockerClient(
  sock: string,
  home: string,
): {
  bin: string | undefined;
  docker: (...args: string[]) => Promise<DockerRun>;
  ok: (...args: string[]) => Promise<string>;
} {
  const bin = dockerCli();
  mkdirSync(home, { recursive: true });
  const env = { DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: home, HOME: home };
  const docker = async (...args: string[]): Promise<DockerRun> => {
    const r = await runProgram(bin ?? 'docker', args, { env });
    return { status: r.code, stdout: r.out, stderr: r.err };
  };
  const ok = async (...args: string[]): Promise<string> => {
    const r = await docker(...args);
    assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  return { bin, docker, ok };
}
