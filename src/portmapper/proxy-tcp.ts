/** The TCP half of the userland proxy (proxy.ts describes its behaviour). */
import net from 'node:net';
import { type Checked, closed, handle, listenError, type ProxyHandle } from './proxy-spec.ts';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  open: number;
}
export async function startTcp(c: Checked): Promise<ProxyHandle> {
  const pairs = new Set<Pair>();
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });

  server.on('connection', (client: net.Socket) => {
    const upstream = net.connect({
      host: c.container.text,
      port: c.containerPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    const pair: Pair = { client, upstream, open: 2 };
    pairs.add(pair);
    client.setNoDelay(true);
    let connected = false;

    const reset = (s: net.Socket) => {
      if (s.destroyed) return;
      // A reset where the kernel can send one (connected TCP); a plain destroy otherwise.
      if (s.connecting || s.readyState === 'closed') s.destroy();
      else s.resetAndDestroy();
    };
    client.on('error', () => reset(upstream));
    upstream.on('error', () => reset(client));

    upstream.once('connect', () => {
      connected = true;
      client.pipe(upstream);
      upstream.pipe(client);
    });

    // pipe() ends the other side when one side ends (FIN); when one side closes without its
    // readable side ending, the other is ended (clean close) or reset (error) here.
    const onClose = (other: net.Socket) => (hadError: boolean) => {
      pair.open -= 1;
      if (pair.open === 0) pairs.delete(pair);
      if (hadError || !connected) reset(other);
      else if (!other.destroyed && !other.writableEnded) other.end();
    };
    client.on('close', onClose(upstream));
    upstream.on('close', onClose(client));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(
        { host: c.host.text, port: c.hostPort, ipv6Only: c.host.family === 6, exclusive: true },
        () => {
          server.off('error', reject);
          resolve();
        },
      );
    });
  } catch (err) {
    // net closes the handle of a failed listen itself; make sure the server is not left listening.
    if (server.listening) server.close();
    throw listenError(c, err);
  }
  server.on('error', (err: Error) => c.onError(err));

  return handle(
    c,
    () => pairs.size,
    async () => {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      const waits: Promise<void>[] = [done];
      for (const p of pairs) {
        for (const s of [p.client, p.upstream]) {
          if (!s.closed) {
            waits.push(closed(s));
            s.destroy();
          }
        }
      }
      await Promise.all(waits);
    },
  );
}
