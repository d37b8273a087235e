/**
 * The Node CNI plugin: the brain of src/cni-spec/verbs.ts over the daemon's native /attachments
 * API (HTTP on the config's `host`). It is the fallback of the C launcher (src/cni/launcher/):
 * installed when no C compiler is there, and exec'd by the launcher for tcp:// (TLS) hosts.
 *
 *   attach  POST /attachments                    detach  DELETE /attachments/{id}/{ifname}
 *   check   POST /attachments/{id}/{ifname}/check gc      POST /attachments/gc
 *   status  GET /attachments/status?network=NAME
 */
import { Client, ConnectionError, DaemonError } from '../cli/client.ts';
import {
  type Attachment,
  type Backend,
  BackendError,
  type CniOutput,
  runCni as run,
} from '../cni-spec/verbs.ts';

export type { CniOutput } from '../cni-spec/verbs.ts';

/** How long STATUS waits for the daemon (the runtime polls it). */
const STATUS_TIMEOUT_MS = 5_000;

const path = (cid: string, ifName: string) =>
  `/attachments/${encodeURIComponent(cid)}/${encodeURIComponent(ifName)}`;

async function asBackend<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ConnectionError) throw new BackendError('unreachable', err.message);
    if (err instanceof DaemonError) throw new BackendError(err.status, err.message);
    throw err;
  }
}

/** The daemon's attachments over HTTP. */
export function httpBackend(host: string, timeoutMs?: number): Backend {
  const client = new Client(host, timeoutMs);
  return {
    attach: (body) => asBackend(client.post<Attachment>('/attachments', body)),
    detach: async (cid, ifName) => {
      await asBackend(client.delete(path(cid, ifName)));
    },
    check: (cid, ifName) => asBackend(client.post(`${path(cid, ifName)}/check`)),
    gc: (network, valid) => asBackend(client.post('/attachments/gc', { Network: network, Valid: valid })),
    status: (network) => asBackend(client.get('/attachments/status', { network })),
  };
}

/** Runs one plugin invocation: what a runtime's exec of the `dnet` plugin does. */
export function runCni(env: Record<string, string | undefined>, stdin: string): Promise<CniOutput> {
  return run(env, stdin, (host, verb) =>
    httpBackend(host, verb === 'STATUS' ? STATUS_TIMEOUT_MS : undefined),
  );
}
