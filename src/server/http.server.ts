/**
 * The HTTP server of `herald serve`: routes from a table (router.ts), bounded bodies (413), 404
 * and 405, and a 500 for a handler that throws. Endpoints live in their own files as Routes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { BodyTooLarge, readBody } from './body.js';
import { Router, type Route, type RouteReply } from './router.js';

export interface HttpServerOptions {
  routes: readonly Route[];
  logger: Logger;
  maxBodyBytes: number;
  /** Called once per answered request (serve.ts counts them for /metrics); `route` is null when none matched. */
  onReply?: (route: Route | null, method: string, status: number, ms: number) => void;
}

const EMPTY: Buffer = Buffer.alloc(0);
/** After a 413 the rest of the body is discarded, up to this much, so the client reads the answer; then the connection is cut. */
const DRAIN_LIMIT = 32 * 1024 * 1024;

export function createHttpServer(o: HttpServerOptions): Server {
  const router = new Router(o.routes);
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      o.logger.error({ err: errorMessage(err) }, 'request failed');
      if (!res.headersSent) send(res, { status: 500, body: { error: 'internal error' } });
      else res.destroy();
    });
  });
  // Longer than the idle timeouts of common load balancers (60 s), so they close first.
  server.keepAliveTimeout = 65_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const reply = (route: Route | null, r: RouteReply) => {
      send(res, r);
      o.onReply?.(route, req.method ?? 'GET', r.status, performance.now() - started);
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://herald.local');
    } catch {
      return reply(null, { status: 400, body: { error: 'bad request target' } });
    }
    const match = router.match(req.method ?? 'GET', url.pathname);
    if (!match) return reply(null, { status: 404, body: { error: 'not found' } });
    if ('allowed' in match) return reply(null, { status: 405, headers: { allow: [...new Set(match.allowed)].join(', ') }, body: { error: 'method not allowed' } });
    let body = EMPTY;
    if (match.route.body) {
      try {
        body = await readBody(req, o.maxBodyBytes);
      } catch (err) {
        if (!(err instanceof BodyTooLarge)) return void req.destroy(); // the client went away
        o.logger.warn({ path: url.pathname, limit: o.maxBodyBytes }, 'request body too large: 413');
        discard(req);
        return reply(match.route, { status: 413, body: { error: `body larger than ${o.maxBodyBytes} bytes` } });
      }
    }
    reply(match.route, await match.route.handle({ req, url, params: match.params, body }));
  }
  return server;
}

/** Reads and drops what is left of a refused body, so the answer reaches the client; cuts the connection past DRAIN_LIMIT. */
function discard(req: IncomingMessage): void {
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_LIMIT) req.socket.destroy();
  });
  req.resume();
}

export function send(res: ServerResponse, r: RouteReply): void {
  let payload: string | Buffer = '';
  let type: string | undefined;
  if (typeof r.body === 'string') {
    payload = r.body;
    type = 'text/plain; charset=utf-8';
  } else if (Buffer.isBuffer(r.body)) payload = r.body;
  else if (r.body !== undefined) {
    payload = JSON.stringify(r.body);
    type = 'application/json';
  }
  res.writeHead(r.status, { ...(type ? { 'content-type': type } : {}), 'content-length': Buffer.byteLength(payload), ...r.headers });
  res.end(payload);
}
