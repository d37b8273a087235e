/**
 * A tiny router: routes are a method and a path of literal segments and `{param}` segments;
 * a path matches a route segment by segment. dockerd (gorilla/mux) answers both an unknown path
 * and a known path with the wrong method with 404 "page not found"; so does this router.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ApiRequest {
  readonly method: string;
  /** The path without the `/v1.xx` prefix. */
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The API version of the request (the path's, or the newest served). */
  readonly version: string;
  /** The body parsed as JSON (undefined when empty). Checks Content-Type and size, as dockerd. */
  json(): Promise<unknown>;
  readonly raw: IncomingMessage;
}

export interface ApiReply {
  status: number;
  /** JSON-encoded unless `text` is set. */
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /**
   * A streamed body (`GET /events`): called once the status and headers are sent; it writes to
   * `res`, ends it, and resolves when the stream is over.
   */
  stream?: (res: ServerResponse) => Promise<void>;
}

export type Handler = (req: ApiRequest) => Promise<ApiReply>;

interface Route {
  method: string;
  pattern: string;
  segments: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, pattern, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** The handler, its pattern (`/networks/{id}`) and path parameters for a request, or undefined (404). */
  match(
    method: string,
    path: string,
  ): { handler: Handler; pattern: string; params: Record<string, string> } | undefined {
    const parts = path.split('/').filter(Boolean);
    if (path !== '/' && path.endsWith('/')) return undefined;
    for (const r of this.routes) {
      if (r.method !== method || r.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = r.segments[i]!;
        const part = parts[i]!;
        if (seg.startsWith('{') && seg.endsWith('}')) {
          let decoded: string;
          try {
            decoded = decodeURIComponent(part);
          } catch {
            ok = false;
            break;
          }
          params[seg.slice(1, -1)] = decoded;
        } else if (seg !== part) {
          ok = false;
        }
      }
      if (ok) return { handler: r.handler, pattern: r.pattern, params };
    }
    return undefined;
  }
}
