/**
 * `herald serve` over real HTTP into a real warehouse (DuckDB :memory: and PostgreSQL): exactly
 * which rows land in herald.events and herald.suppressions for batched, duplicated, out-of-order,
 * non-ASCII, opt-out and opt-in payloads, and nothing at all for refused ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHandle } from '../../src/server/serve.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { freshPgUrl } from '../helpers/pg.js';
import {
  ADA_SECRET, basic, envelope, fixture, inboundText, INFOBIP_SECRET, messagesChange, post, postMeta, signature, status,
} from '../webhooks/support.js';
import { count, seedRun, serve } from './support.js';

const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z in unix seconds
const eventRows = (wh: Warehouse) => wh.query<{ event_type: string; provider_message_id: string | null; recipient: string | null }>(
  'SELECT event_type, provider_message_id, recipient FROM herald.events ORDER BY provider_message_id, event_type');

function coreIngest(engine: string, open: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  describe(`webhooks into ${engine}`, () => {
    let wh: Warehouse;
    let cleanup: () => Promise<void>;
    let srv: ServeHandle;
    beforeAll(async () => {
      ({ wh, cleanup } = await open());
      srv = await serve(wh);
    });
    afterAll(async () => {
      await srv?.close();
      await wh?.close();
      await cleanup?.();
    });

    it('lands every status of every change of every entry, once, however often it is delivered', async () => {
      await seedRun(wh, 'run-a', [
        { wamid: 'wamid.a1', recipient: '+819000000001', sentAt: new Date((T0 - 60) * 1000) },
        { wamid: 'wamid.a2', recipient: '+819000000002', sentAt: new Date((T0 - 60) * 1000) },
        { wamid: 'wamid.a3', recipient: '+819000000003', sentAt: new Date((T0 - 60) * 1000) },
      ]);
      const s = (id: string, st: string, dt: number, recipient: string, extra = {}) => status({ id, status: st, timestamp: T0 + dt, recipient, ...extra });
      const batch = envelope(
        [messagesChange({ statuses: [s('wamid.a1', 'sent', 1, '819000000001', { pricing: true }), s('wamid.a2', 'sent', 1, '819000000002')] }),
          messagesChange({ statuses: [s('wamid.a1', 'read', 9, '819000000001')] })], // read before delivered arrives
        [messagesChange({ statuses: [s('wamid.a2', 'delivered', 5, '819000000002'), s('wamid.unknown', 'delivered', 5, '819000000099')] }),
          messagesChange({ statuses: [s('wamid.a3', 'failed', 2, '819000000003', { errors: [{ code: 131026, title: 'Message undeliverable' }] })] })],
      );
      expect((await postMeta(srv.url, batch)).status).toBe(200);
      expect((await postMeta(srv.url, batch)).status).toBe(200); // redelivery
      // The late `delivered` of a1, and a duplicate of one status inside a new body.
      expect((await postMeta(srv.url, envelope([messagesChange({ statuses: [s('wamid.a1', 'delivered', 4, '819000000001'), s('wamid.a2', 'sent', 1, '819000000002')] })]))).status).toBe(200);
      expect(await eventRows(wh)).toEqual([
        { event_type: 'delivered', provider_message_id: 'wamid.a1', recipient: '+819000000001' },
        { event_type: 'read', provider_message_id: 'wamid.a1', recipient: '+819000000001' },
        { event_type: 'sent', provider_message_id: 'wamid.a1', recipient: '+819000000001' },
        { event_type: 'delivered', provider_message_id: 'wamid.a2', recipient: '+819000000002' },
        { event_type: 'sent', provider_message_id: 'wamid.a2', recipient: '+819000000002' },
        { event_type: 'failed', provider_message_id: 'wamid.a3', recipient: '+819000000003' },
        // A message herald never sent is kept, not dropped.
        { event_type: 'delivered', provider_message_id: 'wamid.unknown', recipient: '+819000000099' },
      ]);
      const [payload] = await wh.query<{ payload: unknown; pricing_category: string }>(
        "SELECT payload, pricing_category FROM herald.events WHERE provider_message_id = 'wamid.a1' AND event_type = 'sent'");
      const raw = typeof payload!.payload === 'string' ? JSON.parse(payload!.payload) : payload!.payload;
      expect(raw).toMatchObject({ id: 'wamid.a1', status: 'sent', pricing: { category: 'marketing' } });
      expect(payload!.pricing_category).toBe('marketing');

      const status_ = await wh.query<{ provider_message_id: string; status: string; delivered_at: Date | null; read_at: Date | null; failure_code: string | null }>(
        "SELECT provider_message_id, status, delivered_at, read_at, failure_code FROM herald.message_status WHERE run_id = 'run-a' ORDER BY provider_message_id");
      expect(status_.map((m) => [m.provider_message_id, m.status, m.failure_code])).toEqual([
        ['wamid.a1', 'read', null], ['wamid.a2', 'delivered', null], ['wamid.a3', 'failed', '131026'],
      ]);
      expect(new Date(status_[0]!.delivered_at!).getTime()).toBe((T0 + 4) * 1000);
      const [funnel] = await wh.query<Record<string, number>>("SELECT accepted, delivered, read, failed, replied FROM herald.run_funnel WHERE run_id = 'run-a'");
      expect(Object.fromEntries(Object.entries(funnel!).map(([k, v]) => [k, Number(v)]))).toEqual({ accepted: 3, delivered: 2, read: 1, failed: 1, replied: 0 });
    });

    it('keeps non-ASCII text with "/" and "@" exactly, under a signature over the raw bytes', async () => {
      // Meta escapes "/" and non-ASCII; JSON.stringify of the parsed body would not match the signature.
      const raw = JSON.stringify(envelope([messagesChange({ messages: [inboundText('819000000005', 'wamid.in5', 'PLACEHOLDER', T0 + 30)] })]))
        .replace('PLACEHOLDER', 'caf\\u00e9 \\/ 東京 mail@example.jp 🎉');
      expect((await postMeta(srv.url, raw)).status).toBe(200);
      const [row] = await wh.query<{ payload: unknown; recipient: string }>("SELECT payload, recipient FROM herald.events WHERE provider_message_id = 'wamid.in5'");
      const payload = (typeof row!.payload === 'string' ? JSON.parse(row!.payload) : row!.payload) as { text: { body: string } };
      expect(payload.text.body).toBe('café / 東京 mail@example.jp 🎉');
      expect(row!.recipient).toBe('+819000000005');
    });

    it('refuses a bad or missing signature with 401 and lands nothing', async () => {
      const before = await count(wh, 'SELECT count(*) AS n FROM herald.events');
      const raw = JSON.stringify(envelope([messagesChange({ statuses: [status({ id: 'wamid.x', status: 'sent', timestamp: T0, recipient: '819000000009' })] })]));
      expect((await post(`${srv.url}/webhooks/meta`, raw, { 'x-hub-signature-256': signature(raw, 'not-the-secret') })).status).toBe(401);
      expect((await post(`${srv.url}/webhooks/meta`, raw)).status).toBe(401);
      expect((await post(`${srv.url}/webhooks/meta`, `${raw} `, { 'x-hub-signature-256': signature(raw) })).status).toBe(401);
      expect(await count(wh, 'SELECT count(*) AS n FROM herald.events')).toBe(before);
    });

    it('STOP lands a suppression and an opted_out event; a later START lifts it; an old redelivered STOP does not restore it', async () => {
      const stop = envelope([messagesChange({ messages: [inboundText('819000000006', 'wamid.in6', 'STOP', T0 + 100)] })]);
      expect((await postMeta(srv.url, stop)).status).toBe(200);
      expect(await wh.query('SELECT recipient, reason FROM herald.suppressions')).toEqual([{ recipient: '+819000000006', reason: 'opted_out:keyword' }]);
      expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE event_type = 'opted_out' AND recipient = '+819000000006'")).toBe(1);
      const start = envelope([messagesChange({ messages: [inboundText('819000000006', 'wamid.in7', 'start', T0 + 200)] })]);
      expect((await postMeta(srv.url, start)).status).toBe(200);
      expect(await count(wh, 'SELECT count(*) AS n FROM herald.suppressions')).toBe(0);
      expect((await postMeta(srv.url, stop)).status).toBe(200); // at-least-once: the STOP again, days later
      expect(await count(wh, 'SELECT count(*) AS n FROM herald.suppressions')).toBe(0);
      // 131050 on a status suppresses too.
      const failed = envelope([messagesChange({ statuses: [status({ id: 'wamid.f8', status: 'failed', timestamp: T0 + 300, recipient: '819000000008', errors: [{ code: 131050, title: 'User has stopped marketing messages' }] })] })]);
      expect((await postMeta(srv.url, failed)).status).toBe(200);
      expect(await wh.query('SELECT recipient, reason, source_event_id IS NOT NULL AS linked FROM herald.suppressions')).toEqual([{ recipient: '+819000000008', reason: 'opted_out:131050', linked: true }]);
    });

    it('Infobip reports with Basic auth, ADA callbacks with their secret', async () => {
      const dlr = fixture('infobip/delivery-report.json');
      expect((await post(`${srv.url}/webhooks/infobip`, dlr, { authorization: basic('infobip', 'wrong') })).status).toBe(401);
      expect((await post(`${srv.url}/webhooks/infobip`, dlr, { authorization: basic('infobip', INFOBIP_SECRET) })).status).toBe(200);
      expect((await post(`${srv.url}/webhooks/infobip/inbound`, fixture('infobip/inbound-text.json'), { authorization: basic('infobip', INFOBIP_SECRET) })).status).toBe(200);
      const ada = JSON.stringify({ platform: 'WA', accountNo: '60136951322', eventType: 'Read', messageId: 'ada-1', to: '6591234567', timestamp: T0 });
      expect((await post(`${srv.url}/webhooks/ada`, ada)).status).toBe(401);
      expect((await post(`${srv.url}/webhooks/ada`, ada, { 'x-webhook-secret': ADA_SECRET })).status).toBe(200);
      expect(await wh.query("SELECT provider, event_type, recipient FROM herald.events WHERE provider <> 'meta' ORDER BY provider, event_type")).toEqual([
        { provider: 'ada', event_type: 'read', recipient: '+6591234567' },
        { provider: 'infobip', event_type: 'delivered', recipient: '+41793026731' },
        { provider: 'infobip', event_type: 'inbound', recipient: '+385919998888' },
      ]);
    });
  });
}

coreIngest('DuckDB', async () => ({ wh: await openWarehouse('duckdb::memory:'), cleanup: async () => undefined }));
coreIngest('PostgreSQL', async () => {
  const pg = await freshPgUrl();
  return { wh: await openWarehouse(pg.url), cleanup: pg.cleanup };
});
