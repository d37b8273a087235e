/** Raw HTTP over a unix socket, for the daemon's API tests. */
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  json: unknown;
}

export interface CallOptions {
  /** A raw body (sent as is); otherwise `body` is JSON-encoded. */
  raw?: string | Buffer;
  contentType?: string;
}

export function call(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  opts: CallOptions = {},
): Promise<RawReply> {
  const data =
    opts.raw !== undefined
      ? Buffer.from(opts.raw)
      : body === undefined
        ? undefined
        : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {};
  if (data) {
    headers['Content-Type'] = opts.contentType ?? 'application/json';
    headers['Content-Length'] = String(data.length);
  }
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        if ((res.headers['content-type'] ?? '').startsWith('application/json') && text !== '')
          json = JSON.parse(text);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Waits until something answers `GET /_ping` on the socket. */
export async function waitForPing(socketPath: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await call(socketPath, 'GET', '/_ping');
      if (r.status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`nothing answered on ${socketPath} within ${timeoutMs} ms`);
    await sleep(50);
  }
}
