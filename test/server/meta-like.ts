/**
 * A Meta-like Cloud API on 127.0.0.1:0 that, after accepting a message, reports on it the way
 * Meta does: signed status webhooks POSTed to a webhook URL (here a running `herald serve`),
 * batched several statuses per POST across entries and changes, out of order, some twice, `read`
 * without `delivered` for some, failures for others; retried until answered 200.
 * It keeps the tally of what it reported, for comparison with herald.run_funnel.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type WebhookFate = 'read' | 'read_without_delivered' | 'delivered' | 'sent_only' | 'failed';
const FATES: WebhookFate[] = ['read', 'delivered', 'read_without_delivered', 'failed', 'sent_only', 'read', 'delivered'];

export interface MetaLikeOptions {
  token: string;
  appSecret: string;
  webhookUrl: string;
  /** Recipients (digits) refused at send time with 131026. */
  undeliverable?: string[];
}

export class MetaLike {
  readonly tally = { accepted: 0, refused: 0, delivered: 0, read: 0, failed: 0, posts: 0, statuses: 0, retries: 0 };
  private queue: Record<string, unknown>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private flushTimer: NodeJS.Timeout | null = null;
  private n = 0;

  private constructor(private readonly server: Server, readonly url: string, private readonly o: MetaLikeOptions) {}

  static async start(o: MetaLikeOptions): Promise<MetaLike> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fake = new MetaLike(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, o);
    server.on('request', (req, res) => {
      void readJson(req).then((body) => {
        const to = String((body as { to?: unknown }).to ?? '').replace(/\D/g, '');
        if (req.headers.authorization !== `Bearer ${o.token}` || !/\/messages$/.test(req.url ?? '')) {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 190, message: 'bad token' } }));
          return;
        }
        if (o.undeliverable?.includes(to)) {
          fake.tally.refused++;
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: '(#131026) Message undeliverable', type: 'OAuthException', code: 131026, fbtrace_id: 'A' } }));
          return;
        }
        const wamid = `wamid.LIKE${++fake.n}`;
        fake.tally.accepted++;
        res.writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to }], messages: [{ id: wamid, message_status: 'accepted' }] }));
        fake.report(wamid, to, FATES[(fake.n - 1) % FATES.length]!);
      });
    });
    return fake;
  }

  /** Resolves once every status has been POSTed and answered 200. */
  async settled(): Promise<void> {
    while (this.queue.length > 0 || this.flushTimer || this.inFlight.size > 0) {
      if (this.flushTimer) {
        clearTimeout(this.flushTimer);
        this.flushTimer = null;
        this.flush();
      }
      await Promise.all([...this.inFlight]);
    }
  }

  async close(): Promise<void> {
    await this.settled();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private report(wamid: string, to: string, fate: WebhookFate): void {
    const t = Math.floor(Date.now() / 1000);
    const st = (status: string, dt: number, extra: Record<string, unknown> = {}) => ({ id: wamid, status, timestamp: String(t + dt), recipient_id: to, ...extra });
    const statuses: Record<string, unknown>[] = [st('sent', 0, { pricing: { billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' } })];
    if (fate === 'failed') {
      statuses.push(st('failed', 1, { errors: [{ code: 131026, title: 'Message undeliverable', error_data: { details: 'Message Undeliverable.' } }] }));
      this.tally.failed++;
    }
    if (fate === 'read' || fate === 'delivered') {
      statuses.push(st('delivered', 1));
      this.tally.delivered++;
    }
    if (fate === 'read' || fate === 'read_without_delivered') {
      statuses.push(st('read', 2));
      this.tally.read++;
      if (fate === 'read_without_delivered') this.tally.delivered++; // read implies delivered
    }
    // Out of order (latest first) and at least once (the first status twice).
    this.queue.push(...statuses.reverse(), statuses[statuses.length - 1]!);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, 15);
  }

  /** Everything queued in one POST: the statuses split over two entries of two changes each. */
  private flush(): void {
    const statuses = this.queue.splice(0);
    if (statuses.length === 0) return;
    const quarter = Math.ceil(statuses.length / 4);
    const change = (part: Record<string, unknown>[]) => ({
      field: 'messages',
      value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' }, statuses: part },
    });
    const parts = [0, 1, 2, 3].map((i) => statuses.slice(i * quarter, (i + 1) * quarter)).filter((p) => p.length > 0);
    const body = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '102290129340398', changes: parts.slice(0, 2).map(change) }, { id: '102290129340398', changes: parts.slice(2).map(change) }].filter((e) => e.changes.length > 0),
    });
    this.tally.posts++;
    this.tally.statuses += statuses.length;
    const p = this.deliver(body).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Like Meta: retried until a 200. */
  private async deliver(body: string): Promise<void> {
    const sig = `sha256=${createHmac('sha256', this.o.appSecret).update(body).digest('hex')}`;
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(this.o.webhookUrl, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig } });
      await res.arrayBuffer();
      if (res.status === 200) return;
      this.tally.retries++;
      if (attempt > 20) throw new Error(`webhook answered ${res.status} ${attempt} times`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return {};
  }
}
