/** Reading a request: its target as a URL, its body within a size limit, and that body as JSON. */
import type { IncomingMessage } from 'node:http';
import { BadRequestError } from './errors.ts';

/** Reads the body up to `limit` bytes; more is a 400 (and the connection is closed). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BadRequestError(`request body too large: more than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new BadRequestError(`request body too large: more than ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** dockerd's httputils.ReadJSON: an empty body is no body; otherwise it must be application/json. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0) return undefined;
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') {
    throw new BadRequestError(`unsupported Content-Type header (${ct}): must be 'application/json'`);
  }
  const text = body.toString('utf8');
  if (text.trim() === '') throw new BadRequestError('invalid JSON: got EOF while reading request body');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`invalid JSON: ${(err as Error).message}`);
  }
}

/**
 * The request target as a URL. Taken as a path always: `//x/y` is the path `//x/y` (relative to a
 * base it would name the host `x`), and a target that no URL can hold is a 400, not a TypeError.
 */
export function requestUrl(target: string | undefined): URL {
  const t = target ?? '/';
  try {
    return new URL(`http://dnet${t.startsWith('/') ? t : `/${t}`}`);
  } catch {
    throw new BadRequestError(`invalid request target ${JSON.stringify(t)}: expected an absolute path`);
  }
}
