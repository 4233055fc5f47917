/**
 * Meta's side of the webhook contract, as the stand-in plays it: each accepted message gets a
 * `sent` and a `delivered` status, posted (signed with the app secret over the raw body) to
 * herald serve's POST /webhooks/meta a little later. Anything but a 200 — a refused connection
 * while serve is down, a 503 while the warehouse is — is retried with backoff, as Meta does,
 * until the scenario ends. Which statuses were acknowledged with 200 is recorded: each of those
 * must be in herald.events.
 */
import { createHmac } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { Rng } from './rng.js';

export interface StatusEvent {
  wamid: string;
  status: 'sent' | 'delivered';
  recipient: string;
  callback: string | null;
  /** Unix seconds, as Meta writes them. */
  timestamp: number;
}

export interface Acked {
  wamid: string;
  status: string;
  /** When the 200 came, and after how many refused posts. */
  at: string;
  attempts: number;
}

/** A status waiting to be posted, and how many posts of it failed so far. */
interface Pending {
  event: StatusEvent;
  attempts: number;
}

/** Statuses per POST: Meta mostly sends one, sometimes several. */
const MAX_PER_POST = 3;
const MAX_IN_FLIGHT = 12;

export function signature(secret: string, raw: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

export function statusPayload(phoneNumberId: string, events: readonly StatusEvent[]): unknown {
  return {
    object: 'whatsapp_business_account',
    entry: [{
      id: '102290129340398',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
          statuses: events.map((e) => ({
            id: e.wamid,
            status: e.status,
            timestamp: String(e.timestamp),
            recipient_id: e.recipient,
            ...(e.callback !== null ? { biz_opaque_callback_data: e.callback } : {}),
            ...(e.status === 'sent' ? { conversation: { id: `conv${e.wamid.slice(-12)}`, origin: { type: 'marketing' } } } : {}),
            pricing: { billable: true, pricing_model: 'PMP', type: 'regular', category: 'utility' },
          })),
        },
      }],
    }],
  };
}

/** POST a signed body; resolves with the status code or the transport error's code. */
export function postSigned(url: string, secret: string, raw: Buffer, agent?: Agent): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, {
      method: 'POST', agent, timeout: 15_000,
      headers: { 'content-type': 'application/json', 'content-length': raw.length, 'x-hub-signature-256': signature(secret, raw) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
      res.on('error', () => resolve('response_error'));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    req.end(raw);
  });
}

export class WebhookSender {
  readonly acked: Acked[] = [];
  /** Non-200 answers and transport errors of status posts, by answer. */
  readonly refused: Record<string, number> = {};
  posts = 0;
  private readonly due: Pending[] = [];
  private readonly retrying = new Set<NodeJS.Timeout>();
  private readonly scheduled = new Set<NodeJS.Timeout>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  private inFlight = 0;
  private paused = false;
  private stopped = false;
  private target: string | null = null;

  constructor(private readonly o: { appSecret: string; phoneNumberId: string; rng: Rng; ackLog: string }) {}

  /** Where herald serve listens: http://127.0.0.1:PORT/webhooks/meta. */
  setTarget(url: string): void {
    this.target = url;
    this.pump();
  }

  /** Statuses for an accepted message: sent after 0.1–0.6 s, delivered after 0.4–1.5 s. */
  accepted(wamid: string, recipient: string, callback: string | null): void {
    const now = Date.now();
    for (const [status, min, max] of [['sent', 100, 600], ['delivered', 400, 1500]] as const) {
      const delay = this.o.rng.between(min, max);
      const timer = setTimeout(() => {
        this.scheduled.delete(timer);
        this.due.push({ event: { wamid, status, recipient, callback, timestamp: Math.floor((now + delay) / 1000) }, attempts: 0 });
        this.pump();
      }, delay);
      this.scheduled.add(timer);
    }
  }

  /** Holds posts (statuses keep piling up) until `resume`: a flood for a mid-ingest outage. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Statuses not yet acknowledged (queued, scheduled, in flight or waiting to retry). */
  outstanding(): number {
    return this.due.length + this.scheduled.size + this.retrying.size + this.inFlight;
  }

  /** Resolves when every status so far was acknowledged, or after `timeoutMs` (false then). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.outstanding() > 0) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  stop(): void {
    this.stopped = true;
    for (const t of [...this.scheduled, ...this.retrying]) clearTimeout(t);
    this.scheduled.clear();
    this.retrying.clear();
    this.agent.destroy();
  }

  private pump(): void {
    while (!this.stopped && !this.paused && this.target && this.inFlight < MAX_IN_FLIGHT && this.due.length > 0) {
      void this.post(this.due.splice(0, 1 + Math.floor(this.o.rng.next() * MAX_PER_POST)));
    }
  }

  private async post(batch: Pending[]): Promise<void> {
    this.inFlight++;
    this.posts++;
    const raw = Buffer.from(JSON.stringify(statusPayload(this.o.phoneNumberId, batch.map((p) => p.event))));
    const answer = await postSigned(this.target!, this.o.appSecret, raw, this.agent);
    this.inFlight--;
    if (this.stopped) return;
    if (answer === '200') {
      const at = new Date().toISOString();
      const lines = batch.map(({ event, attempts }) => ({ wamid: event.wamid, status: event.status, at, attempts }));
      this.acked.push(...lines);
      appendFileSync(this.o.ackLog, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    } else {
      this.refused[answer] = (this.refused[answer] ?? 0) + 1;
      for (const p of batch) p.attempts++;
      const attempts = Math.max(...batch.map((p) => p.attempts));
      const delay = Math.min(250 * 2 ** Math.min(attempts, 5), 4000) * this.o.rng.between(0.5, 1);
      const timer = setTimeout(() => {
        this.retrying.delete(timer);
        this.due.unshift(...batch);
        this.pump();
      }, delay);
      this.retrying.add(timer);
    }
    this.pump();
  }
}
