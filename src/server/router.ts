/**
 * `herald serve`'s routes: a small table of (method, path pattern, handler). Adding an endpoint
 * (`POST /runs`, `GET /runs/:id`, `/metrics`) is adding one Route; the server itself (http.server.ts)
 * knows nothing about webhooks or runs.
 */
import type { IncomingMessage } from 'node:http';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';

export interface RouteRequest {
  req: IncomingMessage;
  url: URL;
  /** `:name` segments of the pattern, decoded. */
  params: Record<string, string>;
  /** The raw body (only for routes with `body: true`), at most the server's max_body_bytes. */
  body: Buffer;
}

export interface RouteReply {
  status: number;
  /** A string is sent as text/plain, a Buffer as is, anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: Method;
  /** `/webhooks/infobip/:kind`: literal segments and `:name` parameters. */
  path: string;
  /** Read the body before `handle` (bounded by max_body_bytes: larger ones get 413). */
  body?: boolean;
  handle(r: RouteRequest): Promise<RouteReply> | RouteReply;
}

interface Compiled {
  route: Route;
  segments: { literal?: string; param?: string }[];
}

export type Match = { route: Route; params: Record<string, string> } | { allowed: Method[] } | null;

export class Router {
  private readonly compiled: Compiled[];

  constructor(routes: readonly Route[]) {
    this.compiled = routes.map((route) => ({
      route,
      segments: split(route.path).map((s) => (s.startsWith(':') ? { param: s.slice(1) } : { literal: s })),
    }));
  }

  /** The route for this method and path; `{ allowed }` when only the method is wrong (405); null for 404. */
  match(method: string, pathname: string): Match {
    const parts = split(pathname);
    const allowed: Method[] = [];
    for (const c of this.compiled) {
      const params = matchSegments(c.segments, parts);
      if (!params) continue;
      if (c.route.method === method || (method === 'HEAD' && c.route.method === 'GET')) return { route: c.route, params };
      allowed.push(c.route.method);
    }
    return allowed.length > 0 ? { allowed } : null;
  }
}

function split(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function matchSegments(segments: Compiled['segments'], parts: string[]): Record<string, string> | null {
  if (segments.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const s = segments[i]!;
    if (s.literal !== undefined) {
      if (s.literal !== parts[i]) return null;
    } else {
      try {
        params[s.param!] = decodeURIComponent(parts[i]!);
      } catch {
        return null;
      }
    }
  }
  return params;
}
