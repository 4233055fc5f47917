/**
 * A fake Infobip WhatsApp API on a real `node:http` server (127.0.0.1, a free port): checks the
 * `App` key, holds a message rate cap over any sliding second (429 beyond it, as Infobip does at
 * its account limit), answers REJECTED statuses inside a 200 for chosen recipients, and misbehaves
 * on request when told to: 5xx, 429, HTML or empty 200s, truncated JSON, slow answers, resets.
 * It records every request and every message it accepted, so tests can prove nobody got two.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OutboundMessage } from '../../src/providers/provider.js';
import type { TemplateMessage } from '../../src/types.js';

export type Fault = 'http500' | 'http503_html' | 'http429' | 'http400' | 'html200' | 'empty200' | 'truncated' | 'slow' | 'reset';

export interface FakeInfobipOptions {
  apiKey?: string;
  /** What GET …/templates lists (Infobip's v2 shape); default: none. */
  templates?: unknown[];
  /** Messages per any sliding 1 s window; more get 429. */
  ratePerSecond?: number;
  /** A REJECTED status for this recipient (digits), inside a 200. */
  reject?: (to: string) => { id: number; name: string; description: string } | undefined;
  /** Misbehaviour for the n-th (1-based) send request, or none. */
  fault?: (n: number, messageIds: string[]) => Fault | undefined;
  /** How long a `slow` answer takes. */
  slowMs?: number;
  /**
   * Refuse a messageId already accepted, as Infobip does: status 23 REJECTED_DUPLICATE_MESSAGE_ID
   * "Rejected duplicate message ID" (group 5 REJECTED) inside the 200, per Infobip's "Response
   * status and error codes" table. That the WhatsApp endpoints answer exactly this way is taken
   * from that general table (shared/reference: "a reused id is refused"), not from a captured answer.
   * Off by default, so the other tests still see a resent message counted twice in `accepted`.
   */
  refuseDuplicateIds?: boolean;
}

export interface RecordedRequest {
  n: number;
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
  messageIds: string[];
  /** HTTP status answered, or the fault. */
  answer: number | Fault;
}

export const UNAUTHORIZED_BODY = { requestError: { serviceException: { messageId: 'UNAUTHORIZED', text: 'Invalid login details' } } };
export const TOO_MANY_BODY = { requestError: { serviceException: { messageId: 'TOO_MANY_REQUESTS', text: 'Too many requests' } } };
export const BAD_REQUEST_BODY = {
  requestError: { serviceException: { messageId: 'BAD_REQUEST', text: 'Bad request', validationErrors: { 'messages[0].content.templateName': ['must not be blank'] } } },
};
export const SERVER_ERROR_BODY = { errorCode: 'E500', description: 'Internal server error.', action: 'Try again later.', violations: [], resources: [] };

export const pendingStatus = { groupId: 1, groupName: 'PENDING', id: 7, name: 'PENDING_ENROUTE', description: 'Message sent to next instance' };
export const duplicateIdStatus = { groupId: 5, groupName: 'REJECTED', id: 23, name: 'REJECTED_DUPLICATE_MESSAGE_ID', description: 'Rejected duplicate message ID' };

export class FakeInfobip {
  readonly requests: RecordedRequest[] = [];
  /** messageId → how many times it was accepted (PENDING). */
  readonly accepted = new Map<string, number>();
  /** When each accepted message arrived (ms, monotonic). */
  readonly acceptedAt: number[] = [];
  /** 429s answered because the cap was reached (not injected ones). */
  rateLimited = 0;
  /** Messages refused as REJECTED_DUPLICATE_MESSAGE_ID (with `refuseDuplicateIds`). */
  duplicatesRefused = 0;
  url = '';
  private sendRequests = 0;
  private readonly server: Server;

  constructor(private readonly options: FakeInfobipOptions = {}) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The most messages accepted within any 1 s window. */
  maxPerSecond(): number {
    const at = [...this.acceptedAt].sort((a, b) => a - b);
    let max = 0;
    for (let i = 0, j = 0; i < at.length; i++) {
      while (at[i]! - at[j]! >= 1000) j++;
      max = Math.max(max, i - j + 1);
    }
    return max;
  }

  /** Requests that carried this message id. */
  requestsWith(messageId: string): RecordedRequest[] {
    return this.requests.filter((r) => r.messageIds.includes(messageId));
  }

  private handle(req: IncomingMessage, res: ServerResponse, text: string): void {
    const path = req.url ?? '';
    const json = parse(text);
    const record: RecordedRequest = { n: this.requests.length + 1, method: req.method ?? '', path, authorization: req.headers.authorization, body: json, messageIds: [], answer: 200 };
    this.requests.push(record);
    const reply = (status: number, body: unknown) => {
      record.answer = status;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `App ${this.options.apiKey ?? 'test-key'}`) return reply(401, UNAUTHORIZED_BODY);
    if (req.method === 'GET' && /^\/whatsapp\/2\/senders\/[^/]+\/templates$/.test(path)) return reply(200, { templates: this.options.templates ?? [] });
    if (req.method === 'GET' && path === '/account/1/balance') return reply(200, { balance: 47.79, currency: 'EUR' });
    const isTemplate = path === '/whatsapp/1/message/template';
    if (req.method !== 'POST' || (!isTemplate && path !== '/whatsapp/1/message/text')) {
      return reply(404, { requestError: { serviceException: { messageId: 'NOT_FOUND', text: `no route ${req.method} ${path}` } } });
    }
    const messages = (isTemplate ? (json as { messages?: Msg[] } | undefined)?.messages : [json as Msg]) ?? [];
    record.messageIds = messages.map((m) => m.messageId);
    const fault = this.options.fault?.(++this.sendRequests, record.messageIds);
    if (fault) return this.misbehave(fault, record, req, res);
    const now = performance.now();
    const cap = this.options.ratePerSecond;
    if (cap !== undefined && this.acceptedAt.filter((t) => now - t < 1000).length + messages.length > cap) {
      this.rateLimited++;
      return reply(429, TOO_MANY_BODY);
    }
    const answers = messages.map((m) => {
      const rejected = this.options.reject?.(m.to);
      if (rejected) return { to: m.to, messageCount: 1, messageId: m.messageId, status: { groupId: 5, groupName: 'REJECTED', ...rejected } };
      if (this.options.refuseDuplicateIds && this.accepted.has(m.messageId)) {
        this.duplicatesRefused++;
        return { to: m.to, messageCount: 1, messageId: m.messageId, status: duplicateIdStatus };
      }
      this.accepted.set(m.messageId, (this.accepted.get(m.messageId) ?? 0) + 1);
      this.acceptedAt.push(now);
      return { to: m.to, messageCount: 1, messageId: m.messageId, status: pendingStatus };
    });
    return reply(200, isTemplate ? { bulkId: `bulk-${record.n}`, messages: answers } : answers[0]);
  }

  private misbehave(fault: Fault, record: RecordedRequest, req: IncomingMessage, res: ServerResponse): void {
    record.answer = fault;
    const send = (status: number, type: string, body: string) => res.writeHead(status, { 'content-type': type }).end(body);
    switch (fault) {
      case 'http500': return void send(500, 'application/json', JSON.stringify(SERVER_ERROR_BODY));
      case 'http503_html': return void send(503, 'text/html', '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>');
      case 'http429': return void send(429, 'application/json', JSON.stringify(TOO_MANY_BODY));
      case 'http400': return void send(400, 'application/json', JSON.stringify(BAD_REQUEST_BODY));
      case 'html200': return void send(200, 'text/html', '<!doctype html><html><body>Maintenance</body></html>');
      case 'empty200': return void send(200, 'application/json', '');
      case 'truncated': return void send(200, 'application/json', '{"bulkId":"b1","messages":[{"to":"12015550100","messageCount":1,"messageId":"');
      case 'slow': {
        const timer = setTimeout(() => {
          if (!res.destroyed) send(200, 'application/json', JSON.stringify({ messages: record.messageIds.map((messageId) => ({ messageId, status: pendingStatus })) }));
        }, this.options.slowMs ?? 2000);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case 'reset': return void req.socket.destroy();
    }
  }
}

interface Msg {
  to: string;
  messageId: string;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** An outbound template message with one body parameter; override any part. */
export function outbound(over: Partial<Omit<OutboundMessage, 'message'>> & { message?: Partial<TemplateMessage> | { text: string } } = {}): OutboundMessage {
  const { message, ...rest } = over;
  return {
    sendId: 'send-0001',
    recipient: '+12015550100',
    sender: '441134960000',
    attempt: 1,
    ...rest,
    // A `text` override makes it a free-form text message (no template).
    message: message?.text !== undefined
      ? { text: message.text, body: [], buttons: [] }
      : { template: { name: 'welcome_back', language: 'en_US' }, body: [{ kind: 'text', text: 'Aiko' }], buttons: [], ...(message as Partial<TemplateMessage> | undefined) },
  };
}
