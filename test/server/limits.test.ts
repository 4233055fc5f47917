/**
 * Webhook abuse and failure: malformed JSON (400), oversized bodies (413, declared or chunked),
 * a warehouse that fails (503, then the retry lands), unknown shapes (landed as other, with a
 * warning that masks nothing it should not print), the handshake, /healthz, 404 and 405, and
 * group commit (concurrent requests share writes, each answered after its own rows are stored).
 */
import { request } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_PATHS } from '../../src/log.js';
import type { ServeHandle } from '../../src/server/serve.js';
import { EVENTS } from '../../src/warehouse/tables.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { APP_SECRET, envelope, messagesChange, post, postMeta, signature, status, VERIFY_TOKEN } from '../webhooks/support.js';
import { count, serve } from './support.js';

const T0 = 1_767_225_600;
const statusBody = (id: string) => envelope([messagesChange({ statuses: [status({ id, status: 'delivered', timestamp: T0, recipient: '819000000001' })] })]);

/** A warehouse whose inserts can be made to fail, and which counts the event writes. */
function flaky(wh: Warehouse): Warehouse & { failing: boolean; eventWrites: number } {
  const w = Object.create(wh) as Warehouse & { failing: boolean; eventWrites: number };
  w.failing = false;
  w.eventWrites = 0;
  w.insert = async (table, rows, options) => {
    if (w.failing) throw new Error('connection refused');
    if (table === EVENTS) w.eventWrites++;
    return wh.insert(table, rows, options);
  };
  return w;
}

describe('herald serve limits', () => {
  let base: Warehouse;
  let wh: ReturnType<typeof flaky>;
  let srv: ServeHandle;
  const logs: Record<string, unknown>[] = [];
  beforeAll(async () => {
    base = await openWarehouse('duckdb::memory:');
    wh = flaky(base);
    const destination = new Writable({ write(chunk: Buffer, _enc, done) { logs.push(JSON.parse(chunk.toString())); done(); } });
    const logger = pino({ level: 'info', redact: { paths: SECRET_PATHS, censor: '[redacted]' } }, destination);
    srv = await serve(wh, { logger });
  });
  afterAll(async () => {
    await srv.close();
    await base.close();
  });
  afterEach(() => {
    wh.failing = false;
  });

  it('answers the verification handshake', async () => {
    const q = (token: string) => `${srv.url}/webhooks/meta?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=8675309`;
    const ok = await fetch(q(VERIFY_TOKEN));
    expect([ok.status, await ok.text()]).toEqual([200, '8675309']);
    expect((await fetch(q('wrong'))).status).toBe(403);
  });

  it('400 for malformed JSON under a valid signature, nothing landed', async () => {
    const before = await count(wh, 'SELECT count(*) AS n FROM herald.events');
    const raw = '{"object":"whatsapp_business_account","entry":[';
    expect((await post(`${srv.url}/webhooks/meta`, raw, { 'x-hub-signature-256': signature(raw) })).status).toBe(400);
    expect((await post(`${srv.url}/webhooks/meta`, '', { 'x-hub-signature-256': signature('') })).status).toBe(400);
    expect(await count(wh, 'SELECT count(*) AS n FROM herald.events')).toBe(before);
  });

  it('413 for a body over 3 MB, declared or streamed, and the server keeps serving', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 1, 0x20);
    expect((await post(`${srv.url}/webhooks/meta`, big, { 'x-hub-signature-256': signature(big) })).status).toBe(413);
    // Chunked, without a Content-Length: cut off once it passes the limit.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(`${srv.url}/webhooks/meta`, { method: 'POST', headers: { 'transfer-encoding': 'chunked', 'x-hub-signature-256': 'sha256=00' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 4; i++) req.write(Buffer.alloc(1024 * 1024, 0x20));
      req.end();
    });
    expect(chunked).toBe(413);
    expect((await postMeta(srv.url, statusBody('wamid.after413'))).status).toBe(200);
  });

  it('503 while the warehouse fails, so the provider retries; the retry lands', async () => {
    wh.failing = true;
    expect((await postMeta(srv.url, statusBody('wamid.retry'))).status).toBe(503);
    expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE provider_message_id = 'wamid.retry'")).toBe(0);
    wh.failing = false;
    expect((await postMeta(srv.url, statusBody('wamid.retry'))).status).toBe(200);
    expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE provider_message_id = 'wamid.retry'")).toBe(1);
    expect(logs.some((l) => l.level === 50 && /503/.test(String(l.msg)))).toBe(true);
  });

  it('lands unknown shapes as other with their raw payload, and warns', async () => {
    const body = { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'brand_new_field', value: { wa_id: '819000000001', secret_sauce: 1 } }] }] };
    expect((await postMeta(srv.url, body)).status).toBe(200);
    const [row] = await wh.query<{ event_type: string; payload: string }>("SELECT event_type, payload FROM herald.events WHERE payload::VARCHAR LIKE '%secret_sauce%'");
    expect(row?.event_type).toBe('other');
    const warning = logs.find((l) => l.msg === 'webhook events of unknown shape landed as other');
    expect(warning).toMatchObject({ level: 40, provider: 'meta', unknown: { 'change field brand_new_field': 1 } });
    // Logs never carry the secrets or the numbers of the payloads.
    const all = JSON.stringify(logs);
    expect(all).not.toContain(APP_SECRET);
    expect(all).not.toContain('819000000001');
  });

  it('logs consent changes with the number masked', async () => {
    const body = envelope([messagesChange({ messages: [{ from: '819012345678', id: 'wamid.stop', timestamp: String(T0), type: 'text', text: { body: 'STOP' } }] })]);
    expect((await postMeta(srv.url, body)).status).toBe(200);
    expect(logs.find((l) => l.msg === 'consent change landed')).toMatchObject({ level: 30, provider: 'meta', recipient: '+81******5678', change: 'opted_out', how: 'keyword' });
    expect(JSON.stringify(logs)).not.toContain('819012345678');
  });

  it('group commit: concurrent requests share writes, and each is answered after its rows are stored', async () => {
    const writesBefore = wh.eventWrites;
    const n = 40;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => postMeta(srv.url, statusBody(`wamid.gc${i}`))));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE provider_message_id LIKE 'wamid.gc%'")).toBe(n);
    expect(wh.eventWrites - writesBefore).toBeLessThan(n);
  });

  it('/healthz, 404 and 405', async () => {
    const health = await fetch(`${srv.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', warehouse: 'duckdb' });
    expect((await fetch(`${srv.url}/nope`)).status).toBe(404);
    const wrong = await fetch(`${srv.url}/webhooks/meta`, { method: 'PUT' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, POST');
  });
});
