/**
 * A fake WhatsApp Cloud API on a real local HTTP server (127.0.0.1, port 0), for end-to-end runs:
 *
 * - `POST /{version}/{phone-number-id}/messages` accepts with Meta's success body and a wamid;
 * - a throughput cap: over `ratePerSecond` requests in any sliding second, Meta's real 130429 body;
 * - bearer tokens: the good one works, the expired one gets 190 (HTTP 401), any other 190 too;
 * - per-recipient fates: undeliverable (131026 every time), transient once (131000, or HTTP 503
 *   without a body), held for quality assessment, and bad provider behaviour (HTML 200, empty
 *   200, truncated JSON, a 301, an answer slower than the client's timeout, a connection reset);
 * - `GET /{version}/{id}` for credential checks.
 *
 * Every request is recorded (time, token, recipient, answer), and every acceptance, the way Meta
 * keeps its own record: tests prove pacing and that nobody was messaged twice.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Meta's 130429 body, verbatim from test/fixtures/meta/send-error-130429.json. */
export const RATE_LIMIT_BODY = {
  error: {
    message: '(#130429) Rate limit hit',
    type: 'OAuthException',
    code: 130429,
    error_data: { messaging_product: 'whatsapp', details: 'Cloud API message throughput has been reached.' },
    error_subcode: 2494055,
    fbtrace_id: 'Az8or2yhqkZfEZ-_4Qn_Bam',
  },
};

export const UNDELIVERABLE_BODY = {
  error: {
    message: '(#131026) Message undeliverable',
    type: 'OAuthException',
    code: 131026,
    error_data: { messaging_product: 'whatsapp', details: 'Message Undeliverable.' },
    fbtrace_id: 'AcMm3PY0QmhVu5S2yFd-cG2',
  },
};

export const SOMETHING_WRONG_BODY = {
  error: {
    message: '(#131000) Something went wrong',
    type: 'OAuthException',
    code: 131000,
    error_data: { messaging_product: 'whatsapp', details: 'Something went wrong' },
    fbtrace_id: 'AfbwBTCYVr3jUz8t1p9XRVN',
  },
};

export const EXPIRED_TOKEN_BODY = {
  error: {
    message: 'Error validating access token: Session has expired on Tuesday, 01-Jul-25 10:00:00 PDT. The current time is Tuesday, 01-Jul-25 11:00:00 PDT.',
    type: 'OAuthException',
    code: 190,
    error_subcode: 463,
    fbtrace_id: 'A2hVQ8pXo3sJ0Fk1d7eVw9Z',
  },
};

const INVALID_TOKEN_BODY = {
  error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190, fbtrace_id: 'AyQ5c0m3T1rA4bJ6k8vXq2P' },
};

export type Fate =
  | 'undeliverable' | 'transient_131000' | 'transient_503' | 'held'
  | 'html' | 'empty' | 'truncated' | 'redirect' | 'slow' | 'reset';

export interface FakeMetaOptions {
  /** Requests per sliding second before 130429 (default: no cap). */
  ratePerSecond?: number;
  goodToken: string;
  expiredToken?: string;
  /** By recipient, digits or E.164. */
  fates?: Record<string, Fate>;
  /** How late the `slow` fate answers (default 1 s). */
  slowMs?: number;
  version?: string;
  /** `throughput.level` of the number (`GET /{id}?fields=throughput`); absent: Meta's node without it. */
  throughputLevel?: string;
  /** `whatsapp_business_manager_messaging_limit` of the number (TIER_250 … TIER_UNLIMITED); absent: not in the node. */
  messagingLimit?: string;
  /** `GET /{waba-id}/message_templates` answers these (Meta's shape); absent: answered like any unknown path (error 100). */
  templates?: unknown[];
}

export interface FakeRequest {
  /** performance.now() at arrival. */
  at: number;
  method: string;
  path: string;
  token: string;
  /** Digits of `to`, or the BSUID of `recipient`, for sends. */
  to: string | null;
  body: unknown;
  /** `accepted`, a Meta error code, `http:503`, or the fate played. */
  answer: string;
}

export interface FakeAcceptance {
  to: string;
  wamid: string;
  callbackData: unknown;
}

export class FakeMeta {
  readonly requests: FakeRequest[] = [];
  readonly accepted: FakeAcceptance[] = [];
  private readonly arrivals: number[] = [];
  private readonly failedOnce = new Set<string>();
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly fates: Map<string, Fate>;
  private readonly version: string;
  private wamids = 0;

  private constructor(private readonly server: Server, readonly url: string, private readonly o: FakeMetaOptions) {
    this.fates = new Map(Object.entries(o.fates ?? {}).map(([to, fate]) => [digits(to), fate]));
    this.version = o.version ?? 'v24.0';
  }

  static async start(o: FakeMetaOptions): Promise<FakeMeta> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fake = new FakeMeta(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, o);
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    server.on('request', (req, res) => void fake.handle(req, res));
    return fake;
  }

  /** Most message requests that arrived within any one second. */
  maxPerSecond(): number {
    const times = [...this.arrivals].sort((a, b) => a - b);
    let max = 0;
    let start = 0;
    for (let end = 0; end < times.length; end++) {
      while (times[end]! - times[start]! >= 1000) start++;
      max = Math.max(max, end - start + 1);
    }
    return max;
  }

  answered(answer: string): FakeRequest[] {
    return this.requests.filter((r) => r.answer === answer);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = performance.now();
    const text = await readBody(req);
    const path = (req.url ?? '').split('?')[0]!;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const record = (to: string | null, body: unknown, answer: string) => this.requests.push({ at, method: req.method ?? '', path, token, to, body, answer });
    // /messages, or the Marketing Messages API's /marketing_messages: the same body.
    const send = new RegExp(`^/${this.version.replace('.', '\\.')}/(\\d+)/(?:marketing_)?messages$`).exec(path);
    const templates = new RegExp(`^/${this.version.replace('.', '\\.')}/(\\w+)/message_templates$`).exec(path);
    const node = new RegExp(`^/${this.version.replace('.', '\\.')}/(\\d+)$`).exec(path);

    if (token !== this.o.goodToken) {
      record(null, null, '190');
      return json(res, 401, token === this.o.expiredToken ? EXPIRED_TOKEN_BODY : INVALID_TOKEN_BODY);
    }
    if (req.method === 'GET' && templates && this.o.templates) {
      record(null, null, 'templates');
      return json(res, 200, { data: this.o.templates });
    }
    if (req.method === 'GET' && node) {
      record(null, null, 'node');
      const fields = new URL(req.url ?? '/', 'http://fake').searchParams.get('fields') ?? '';
      if (fields === 'throughput') return json(res, 200, { id: node[1], ...(this.o.throughputLevel ? { throughput: { level: this.o.throughputLevel } } : {}) });
      if (fields === 'whatsapp_business_manager_messaging_limit') {
        return json(res, 200, { id: node[1], ...(this.o.messagingLimit ? { whatsapp_business_manager_messaging_limit: this.o.messagingLimit } : {}) });
      }
      return json(res, 200, { id: node[1], display_phone_number: '15550783881' });
    }
    if (req.method !== 'POST' || !send) {
      record(null, null, '100');
      return json(res, 400, { error: { message: `Unsupported ${req.method} request.`, type: 'GraphMethodException', code: 100, fbtrace_id: 'AbCdEf' } });
    }
    this.arrivals.push(at);
    let body: { messaging_product?: unknown; to?: unknown; recipient?: unknown; type?: unknown; biz_opaque_callback_data?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      record(null, text, '100');
      return json(res, 400, { error: { message: '(#100) Invalid parameter', type: 'OAuthException', code: 100, fbtrace_id: 'AbCdEf' } });
    }
    // `recipient` is a business-scoped user id (docs/providers/meta-2026.md §1); `to` wins when both are given.
    const bsuid = typeof body.to !== 'string' && typeof body.recipient === 'string' ? body.recipient : null;
    if (body.messaging_product !== 'whatsapp' || (typeof body.to !== 'string' && bsuid === null) || (body.type !== 'template' && body.type !== 'text')) {
      record(null, body, '100');
      return json(res, 400, { error: { message: '(#100) Invalid parameter', type: 'OAuthException', code: 100, fbtrace_id: 'AbCdEf' } });
    }
    const to = bsuid ?? digits(body.to as string);
    const cap = this.o.ratePerSecond ?? Infinity;
    if (this.arrivals.filter((t) => at - t < 1000).length > cap) {
      record(to, body, '130429');
      return json(res, 400, RATE_LIMIT_BODY);
    }
    const fate = this.fates.get(to);
    const accept = (status = 'accepted') => {
      const wamid = `wamid.HBgL${Buffer.from(`${to}:${++this.wamids}`).toString('base64url')}`;
      this.accepted.push({ to, wamid, callbackData: body.biz_opaque_callback_data });
      const contact = bsuid ? { input: bsuid, user_id: bsuid } : { input: body.to, wa_id: to };
      return { messaging_product: 'whatsapp', contacts: [contact], messages: [{ id: wamid, message_status: status }] };
    };
    record(to, body, fate ?? 'accepted');
    switch (fate) {
      case 'undeliverable':
        return json(res, 400, UNDELIVERABLE_BODY);
      case 'transient_131000':
      case 'transient_503':
        if (!this.failedOnce.has(to)) {
          this.failedOnce.add(to);
          if (fate === 'transient_503') return void res.writeHead(503).end();
          return json(res, 500, SOMETHING_WRONG_BODY);
        }
        return json(res, 200, accept());
      case 'held':
        return json(res, 200, accept('held_for_quality_assessment'));
      case 'html':
        accept();
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body><h1>Service Unavailable</h1></body></html>');
      case 'empty':
        accept();
        return void res.writeHead(200, { 'content-type': 'application/json' }).end();
      case 'truncated':
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(accept()).slice(0, 60));
      case 'redirect':
        return void res.writeHead(301, { location: 'https://graph.facebook.com/v24.0/messages' }).end();
      case 'slow': {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          if (!res.destroyed) json(res, 200, accept());
        }, this.o.slowMs ?? 1000);
        this.timers.add(timer);
        return;
      }
      case 'reset':
        accept(); // it went through; the answer never arrives
        return void req.socket.destroy();
      case undefined:
        return json(res, 200, accept());
    }
  }
}

function digits(phone: string): string {
  return phone.replace(/\D/g, '');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
