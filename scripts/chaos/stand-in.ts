/**
 * A strict local stand-in for the WhatsApp Cloud API on 127.0.0.1, as herald's `meta` provider
 * talks to it:
 *
 * - `POST /{version}/{phone_number_id}/messages` (bearer token) answers Meta's success body with a
 *   new wamid after 20–60 ms, or plays a fault (faults.ts), or refuses the fixed undeliverable
 *   recipients with 131026;
 * - every processed request — the recipient was messaged — is appended to `processed.jsonl`
 *   (recipient, biz_opaque_callback_data, wamid, time) before anything else happens: it is the
 *   provider's truth for "messaged twice" and "never messaged";
 * - each processed message gets signed `sent` and `delivered` webhooks (webhooks.ts);
 * - `GET /{version}/{waba_id}/message_templates` lists the one template the chaos job uses, so
 *   herald's pre-flight check runs for real; `GET /{version}/{id}` answers credential checks.
 */
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FaultPlan } from './faults.js';
import type { Rng } from './rng.js';
import type { WebhookSender } from './webhooks.js';

export const GRAPH_VERSION = 'v24.0';
export const TEMPLATE = { name: 'chaos_notice', language: 'en_US', body: 'Hello {{1}}, this is a chaos test.' };

const SOMETHING_WRONG = {
  error: { message: '(#131000) Something went wrong', type: 'OAuthException', code: 131000,
    error_data: { messaging_product: 'whatsapp', details: 'Something went wrong' }, fbtrace_id: 'AfbwBTCYVr3jUz8t1p9XRVN' },
};
const UNDELIVERABLE = {
  error: { message: '(#131026) Message undeliverable', type: 'OAuthException', code: 131026,
    error_data: { messaging_product: 'whatsapp', details: 'Message Undeliverable.' }, fbtrace_id: 'AcMm3PY0QmhVu5S2yFd-cG2' },
};
const INVALID_TOKEN = { error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190, fbtrace_id: 'AyQ5c0m3T1rA4bJ6k8vXq2P' } };
const INVALID_PARAMETER = { error: { message: '(#100) Invalid parameter', type: 'OAuthException', code: 100, fbtrace_id: 'AbCdEfGh' } };

export interface Processed {
  recipient: string;
  callback: string | null;
  wamid: string;
  at: string;
}

export interface StandInOptions {
  token: string;
  phoneNumberId: string;
  wabaId: string;
  faults: FaultPlan;
  undeliverable: ReadonlySet<string>;
  webhooks: WebhookSender;
  rng: Rng;
  /** The JSON-lines record of processed requests. */
  processedLog: string;
  /** How long a stall holds a request: beyond herald's timeout. */
  stallMs: number;
}

export class MetaStandIn {
  readonly processed: Processed[] = [];
  /** Send requests that arrived (each attempt, whatever became of it). */
  arrivals = 0;
  /** 131026 refusals (not processed: nobody was messaged). */
  refusedUndeliverable = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private wamids = 0;

  private constructor(private readonly server: Server, readonly url: string, private readonly o: StandInOptions) {}

  static async start(o: StandInOptions): Promise<MetaStandIn> {
    const server = createServer({ keepAliveTimeout: 30_000 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const standIn = new MetaStandIn(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, o);
    server.on('connection', (socket) => {
      standIn.sockets.add(socket);
      socket.on('close', () => standIn.sockets.delete(socket));
    });
    server.on('request', (req, res) => void standIn.handle(req, res).catch(() => req.socket.destroy()));
    return standIn;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  /** The recipient is messaged: recorded durably first, then its webhooks are scheduled. */
  private process(recipient: string, callback: string | null): string {
    const wamid = `wamid.HBgL${Buffer.from(`${recipient}:${++this.wamids}:${Date.now()}`).toString('base64url')}`;
    const record: Processed = { recipient, callback, wamid, at: new Date().toISOString() };
    appendFileSync(this.o.processedLog, `${JSON.stringify(record)}\n`);
    this.processed.push(record);
    this.o.webhooks.accepted(wamid, recipient, callback);
    return wamid;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    const path = (req.url ?? '').split('?')[0]!;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if (token !== this.o.token) return json(res, 401, INVALID_TOKEN);
    const v = GRAPH_VERSION.replace('.', '\\.');
    if (req.method === 'GET' && new RegExp(`^/${v}/${this.o.wabaId}/message_templates$`).test(path)) {
      return json(res, 200, {
        data: [{ name: TEMPLATE.name, language: TEMPLATE.language, status: 'APPROVED', category: 'UTILITY', components: [{ type: 'BODY', text: TEMPLATE.body }] }],
        paging: { cursors: { before: 'a', after: 'a' } },
      });
    }
    if (req.method === 'GET' && new RegExp(`^/${v}/\\d+$`).test(path)) return json(res, 200, { id: path.split('/')[2], display_phone_number: '15550783881' });
    if (req.method !== 'POST' || path !== `/${GRAPH_VERSION}/${this.o.phoneNumberId}/messages`) return json(res, 400, INVALID_PARAMETER);

    let body: { messaging_product?: unknown; to?: unknown; type?: unknown; biz_opaque_callback_data?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return json(res, 400, INVALID_PARAMETER);
    }
    if (body.messaging_product !== 'whatsapp' || typeof body.to !== 'string' || body.type !== 'template') return json(res, 400, INVALID_PARAMETER);
    this.arrivals++;
    const to = body.to.replace(/\D/g, '');
    const callback = typeof body.biz_opaque_callback_data === 'string' ? body.biz_opaque_callback_data : null;
    const latency = this.o.rng.between(20, 60);
    const success = (wamid: string) => ({ messaging_product: 'whatsapp', contacts: [{ input: body.to, wa_id: to }], messages: [{ id: wamid }] });

    // An undeliverable recipient is refused, never messaged, whatever else goes wrong.
    const undeliverable = this.o.undeliverable.has(to);
    const answer = (wamid: string | null) => {
      if (res.destroyed) return;
      if (wamid === null) json(res, 400, UNDELIVERABLE);
      else json(res, 200, success(wamid));
    };
    const processNow = () => {
      if (!undeliverable) return this.process(to, callback);
      this.refusedUndeliverable++;
      return null;
    };

    switch (this.o.faults.next()) {
      case 'reset_before':
        return void req.socket.destroy();
      case 'reset_after':
        processNow();
        return void req.socket.destroy();
      case 'stall_before':
        return this.later(this.o.stallMs, () => req.socket.destroy());
      case 'stall_after': {
        const wamid = processNow();
        return this.later(this.o.stallMs, () => answer(wamid));
      }
      case 'http_500':
        return this.later(latency, () => !res.destroyed && json(res, 500, SOMETHING_WRONG));
      case null:
        // Processed after the latency, whether or not herald is still there to hear the answer
        // (a killed herald leaves its request with the provider, which carries it out).
        return this.later(latency, () => answer(processNow()));
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
