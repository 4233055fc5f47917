/**
 * Strict local stand-ins for Meta's Cloud API and Infobip's WhatsApp API, counting where a
 * provider counts: at arrival. A child process (this file, run directly), so herald's event loop
 * and the stand-in's never share a thread.
 *
 * - Meta: `POST /v24.0/{phone-number-id}/messages` answers Meta's success body
 *   (`{"messaging_product":"whatsapp","contacts":[…],"messages":[{"id":"wamid…"}]}`); over the
 *   cap, HTTP 400 with Meta's 130429 body (test/fixtures/meta/send-error-130429.json).
 *   `GET /v24.0/{id}?fields=throughput` answers `{"id":…,"throughput":{"level":…}}`.
 *   `GET /v24.0/{waba-id}/message_templates` lists one APPROVED UTILITY template, the bench job's
 *   (`welcome_back`, ja: three body parameters and a URL button), so `herald run`'s pre-flight passes.
 * - Infobip: `POST /whatsapp/1/message/template` with `{messages:[…]}`: each message of the batch
 *   is an arrival; a batch that would put the sender over the cap gets HTTP 429
 *   TOO_MANY_REQUESTS (all of it, as Infobip's account limit answers a request).
 * - Strict cap per sender (phone-number-id, Infobip `from`): an arrival is refused when the last
 *   1,000 ms already hold `cap` admitted arrivals.
 * - Latency, two legs: the request leg (default 75 ms ± 15 ms, uniform) passes between the
 *   request reaching the stand-in and the arrival being counted and admitted or refused; the
 *   response leg (same default) before the answer is written. An arrival is stamped with its
 *   intended moment (received + request leg), not with the moment the timer really fired, so the
 *   stand-in's own event loop lag does not bunch arrivals (stamps are kept monotonic).
 * Times are epoch ms (performance.timeOrigin + performance.now()): comparable across processes.
 * The child runs at nice −10 when permitted: it plays a remote server, not a process of the box.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMain } from './lib.js';

export interface LatencyModel {
  /** Mean of the request leg (before the arrival is counted), ms. */
  requestMs: number;
  /** Mean of the response leg (after the verdict, before the answer), ms. */
  responseMs: number;
  /** Each leg is uniform in [mean − jitter, mean + jitter]. */
  jitterMs: number;
}

export const REALISTIC_LATENCY: LatencyModel = { requestMs: 75, responseMs: 75, jitterMs: 15 };

export interface StandinConfig extends LatencyModel {
  /** Arrivals admitted per sender in any 1,000 ms. */
  cap: number;
  /** What `GET /{id}?fields=throughput` says. */
  level: 'STANDARD' | 'HIGH';
}

export interface StandinStats {
  requests: number;
  /** Every message that arrived (admitted or refused), epoch ms, in arrival order. */
  arrivals: number[];
  /** Per arrival: the recipient's digits (to match herald's starts) and when the request reached the stand-in. */
  keys: string[];
  received: number[];
  /** The admitted ones. */
  admitted: number[];
  /** Meta: 130429 answers. Infobip: 429 answers (requests). */
  refusedRequests: number;
  /** Messages in refused requests. */
  refusedMessages: number;
  /** Messages per Infobip request (empty for Meta). */
  batchSizes: number[];
}

type ToChild = { type: 'reset'; config: StandinConfig } | { type: 'stats' };
type FromChild = { type: 'ready'; port: number } | ({ type: 'stats' } & StandinStats);

/** Meta's 130429 answer, as recorded in the fixture the tests use (dist/bench → test/fixtures). */
const META_130429: unknown = JSON.parse(readFileSync(new URL('../../test/fixtures/meta/send-error-130429.json', import.meta.url), 'utf8'));
const INFOBIP_429 = { requestError: { serviceException: { messageId: 'TOO_MANY_REQUESTS', text: 'Too many requests' } } };
const INFOBIP_PENDING = { groupId: 1, groupName: 'PENDING', id: 7, name: 'PENDING_ENROUTE', description: 'Message sent to next instance' };

const epochNow = () => performance.timeOrigin + performance.now();

/** The bench job's template (bench/lib.ts benchJob), as Meta lists it. */
const TEMPLATES = {
  data: [{
    id: '1', name: 'welcome_back', language: 'ja', status: 'APPROVED', category: 'UTILITY',
    components: [
      { type: 'BODY', text: '{{1}}さん、{{2}} ポイントは {{3}} まで有効です。' },
      { type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Coupon', url: 'https://example.com/{{1}}' }] },
    ],
  }],
};

/** Runs in the child. */
function serve(): void {
  let config: StandinConfig = { cap: 80, level: 'STANDARD', ...REALISTIC_LATENCY };
  let stats: StandinStats = fresh();
  /** Per sender: admitted arrival stamps, and the first still inside the last second. */
  let windows = new Map<string, { at: number[]; head: number }>();
  let lastStamp = 0;
  let wamids = 0;
  let bulks = 0;

  function fresh(): StandinStats {
    return { requests: 0, arrivals: [], keys: [], received: [], admitted: [], refusedRequests: 0, refusedMessages: 0, batchSizes: [] };
  }
  const leg = (mean: number) => Math.max(0, mean - config.jitterMs + Math.random() * 2 * config.jitterMs);

  /** Counts `n` arrivals from `sender` at `stamp`: true when admitted (all of them), false when refused. */
  function admit(sender: string, stamp: number, received: number, keys: readonly string[]): boolean {
    const n = keys.length;
    let w = windows.get(sender);
    if (!w) windows.set(sender, (w = { at: [], head: 0 }));
    while (w.head < w.at.length && w.at[w.head]! <= stamp - 1000) w.head++;
    for (const k of keys) {
      stats.arrivals.push(stamp);
      stats.keys.push(k);
      stats.received.push(received);
    }
    if (w.at.length - w.head + n > config.cap) {
      stats.refusedRequests++;
      stats.refusedMessages += n;
      return false;
    }
    for (let i = 0; i < n; i++) {
      w.at.push(stamp);
      stats.admitted.push(stamp);
    }
    return true;
  }

  function answer(res: ServerResponse, status: number, body: unknown, delay: number): void {
    const text = JSON.stringify(body);
    setTimeout(() => {
      if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) }).end(text);
    }, delay);
  }

  /** Waits the request leg, then stamps and judges the arrival (stamp = received + leg). */
  function afterRequestLeg(received: number, judge: (stamp: number) => void): void {
    const requestLeg = leg(config.requestMs);
    setTimeout(() => {
      const stamp = Math.max(lastStamp, received + requestLeg);
      lastStamp = stamp;
      judge(stamp);
    }, Math.max(0, received + requestLeg - epochNow()));
  }

  const handle = (req: IncomingMessage, res: ServerResponse, received: number, text: string) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const meta = /^\/v\d+\.\d+\/([^/]+)(\/messages)?$/.exec(url.pathname);
    if (req.method === 'GET' && meta && !meta[2] && url.searchParams.get('fields') === 'throughput') {
      return afterRequestLeg(received, () => answer(res, 200, { id: meta[1], throughput: { level: config.level } }, leg(config.responseMs)));
    }
    if (req.method === 'GET' && /^\/v\d+\.\d+\/[^/]+\/message_templates$/.test(url.pathname)) return answer(res, 200, TEMPLATES, 0);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (req.method === 'POST' && meta?.[2]) {
      stats.requests++;
      const to = String((json as { to?: unknown } | undefined)?.to ?? '');
      return afterRequestLeg(received, (stamp) => {
        if (!admit(`meta:${meta[1]}`, stamp, received, [to.replace(/\D/g, '')])) return answer(res, 400, META_130429, leg(config.responseMs));
        answer(res, 200, {
          messaging_product: 'whatsapp',
          contacts: [{ input: to, wa_id: to.replace(/\D/g, '') }],
          messages: [{ id: `wamid.HBgL${(++wamids).toString(36).padStart(12, '0')}` }],
        }, leg(config.responseMs));
      });
    }
    if (req.method === 'POST' && url.pathname === '/whatsapp/1/message/template') {
      stats.requests++;
      const messages = ((json as { messages?: unknown } | undefined)?.messages ?? []) as { from?: string; to?: string; messageId?: string }[];
      stats.batchSizes.push(messages.length);
      const from = messages[0]?.from ?? '';
      return afterRequestLeg(received, (stamp) => {
        if (!admit(`infobip:${from}`, stamp, received, messages.map((m) => String(m.to ?? '').replace(/\D/g, '')))) return answer(res, 429, INFOBIP_429, leg(config.responseMs));
        answer(res, 200, {
          bulkId: `bulk-${++bulks}`,
          messages: messages.map((m) => ({ to: m.to, messageCount: 1, messageId: m.messageId, status: INFOBIP_PENDING })),
        }, leg(config.responseMs));
      });
    }
    answer(res, 404, { error: { message: `no route ${req.method} ${url.pathname}`, code: 100 } }, 0);
  };

  const server = createServer((req, res) => {
    const received = epochNow();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, received, Buffer.concat(chunks).toString('utf8')));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ type: 'ready', port: (server.address() as AddressInfo).port } satisfies FromChild));
  process.on('message', (m: ToChild) => {
    if (m.type === 'reset') {
      config = m.config;
      stats = fresh();
      windows = new Map();
      lastStamp = 0;
    } else {
      process.send!({ type: 'stats', ...stats } satisfies FromChild);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** The parent's handle on the stand-in child. */
export class Standin {
  private constructor(private readonly child: ChildProcess, readonly origin: string) {}

  static async start(): Promise<Standin> {
    const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`stand-in exited with ${code}`)));
      child.once('message', (m: FromChild) => (m.type === 'ready' ? resolve(m.port) : reject(new Error('unexpected message'))));
    });
    child.removeAllListeners('exit');
    // The stand-in plays a remote server, whose CPU herald's machine does not starve: ahead of
    // herald, the hog and anything else on the box when the OS lets us (root), else as it is.
    try {
      setPriority(child.pid!, -10);
    } catch {
      // not permitted: the stand-in runs at the default priority
    }
    return new Standin(child, `http://127.0.0.1:${port}`);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** New cap, level and latency; forgets every arrival. Resolves once the child has it. */
  async reset(config: StandinConfig): Promise<void> {
    this.child.send({ type: 'reset', config } satisfies ToChild);
    await this.stats(); // IPC is ordered: the answer comes after the reset took effect
  }

  stats(): Promise<StandinStats> {
    return new Promise((resolve) => {
      const on = (m: FromChild) => {
        if (m.type !== 'stats') return;
        this.child.off('message', on);
        const { type: _type, ...stats } = m;
        resolve(stats);
      };
      this.child.on('message', on);
      this.child.send({ type: 'stats' } satisfies ToChild);
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}

if (isMain(import.meta.url) && process.argv[2] === '--serve') serve();
