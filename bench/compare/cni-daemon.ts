/** The dnet side of units 7a and 7b: the CNI plugins installed, and a `dnet daemon` with one network. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { main as dnetMain } from '../../src/cli/main.ts';
import { call, waitForPing } from '../../test/helpers/http.ts';
import { ROOT } from './dnet.ts';

export type { ChildProcess } from 'node:child_process';

const quiet = {
  out: () => {},
  err: (t: string) => process.stderr.write(t),
  env: {},
  readLine: async () => undefined,
};

/** Installs the plugins (`dnet cni install`) into `binDir`: dnet (the launcher) and dnet-node. */
export async function installDnetCni(binDir: string): Promise<void> {
  const code = await dnetMain(['cni', 'install', '--bin-dir', binDir], quiet);
  if (code !== 0) throw new Error(`dnet cni install: exit ${code}`);
}

/** `dnet daemon` (the build in dist/) with its own run dir (socket) and data dir, and one network. */
export async function startDnetDaemon(
  runDir: string,
  dataDir: string,
  network: string,
  subnet: string,
  bridge: string,
): Promise<{ child: ChildProcess; sock: string }> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist/cli/bin.js'), 'daemon', '--run-dir', runDir, '--data-dir', dataDir],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  const sock = join(runDir, 'dnet.sock');
  try {
    await waitForPing(sock, 30_000);
    const r = await call(sock, 'POST', '/networks/create', {
      Name: network,
      IPAM: { Config: [{ Subnet: subnet }] },
      Options: { 'com.docker.network.bridge.name': bridge },
    });
    if (r.status !== 201) throw new Error(`dnet network create: ${r.text}`);
  } catch (err) {
    await stopDaemon(child);
    throw err;
  }
  return { child, sock };
}

export async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}
