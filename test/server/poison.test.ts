/**
 * Poison webhooks beside valid ones, over real HTTP into DuckDB and PostgreSQL (issue 10, item 9):
 * concurrent requests share group-commit batches, and a body that cannot be stored must cost only
 * its own request. Each poison body's answer is decided and asserted exactly: stored after
 * coercion (200), or refused as content (400); never a 500, never a 503 for a valid neighbour.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventSink, type ProviderEvent } from '../../src/events/event.js';
import { UnstorableEvent } from '../../src/events/storable.js';
import type { ServeHandle } from '../../src/server/serve.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { freshPgUrl } from '../helpers/pg.js';
import { envelope, messagesChange, postMeta, status } from '../webhooks/support.js';
import { count, serve } from './support.js';

const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z
const VALID = 30;
const ROUNDS = 3;

const nested = (depth: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};
const statusBody = (s: Record<string, unknown>) => envelope([messagesChange({ statuses: [s] })]);
const inboundBody = (m: Record<string, unknown>) => envelope([messagesChange({ messages: [m] })]);

/** What each poison body is and the status it must get. Bodies are raw strings: the signature covers exactly these bytes. */
const POISON: { name: string; raw: string; status: 200 | 400 }[] = [
  { name: 'a JSON string body', raw: '"hello"', status: 200 },
  { name: 'a JSON number body', raw: '42', status: 200 },
  { name: 'NUL in the message id and recipient', raw: JSON.stringify(statusBody({ id: 'wamid.poison.nul\u0000x', status: 'sent', timestamp: String(T0), recipient_id: '81900000\u00001' })), status: 200 },
  { name: 'a number as the message id', raw: JSON.stringify(statusBody({ id: 777000111, status: 'read', timestamp: String(T0), recipient_id: '819000000004' })), status: 200 },
  { name: 'numbers as recipient and timestamp', raw: JSON.stringify(statusBody({ id: 'wamid.poison.num', status: 'delivered', timestamp: T0, recipient_id: 819000000003 })), status: 200 },
  { name: 'a time before year 1', raw: JSON.stringify(inboundBody({ from: '819000000005', id: 'wamid.poison.time', timestamp: '-010000-01-01T00:00:00Z', type: 'text', text: { body: 'hi' } })), status: 200 },
  { name: 'a lone surrogate in text', raw: JSON.stringify(inboundBody({ from: '819000000006', id: 'wamid.poison.surrogate', timestamp: String(T0), type: 'text', text: { body: 'a\ud800b' } })), status: 200 },
  { name: 'a status 1,500 levels deep', raw: JSON.stringify(statusBody({ id: 'wamid.poison.deep', status: 'sent', timestamp: String(T0), recipient_id: '819000000007', extra: nested(1500) })), status: 400 },
  { name: 'a body 100,000 levels deep', raw: `${'['.repeat(100_000)}${']'.repeat(100_000)}`, status: 400 },
];
/** Rows the 200 poison bodies land, however often they are delivered: one each. */
const POISON_ROWS = 7;

function poisonBesideValid(engine: string, open: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  describe(`poison webhooks into ${engine}`, () => {
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

    it('answers every valid request 200 and lands it once; each poison body gets its own answer, never a 500', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const valid = Array.from({ length: VALID }, (_, i) =>
          postMeta(srv.url, statusBody(status({ id: `wamid.valid.${round}.${i}`, status: 'delivered', timestamp: T0 + i, recipient: `8190000${String(i).padStart(5, '0')}` }))));
        // Poison interleaved with the valid requests, all in flight at once, so they share batches.
        const poison = POISON.map((p) => postMeta(srv.url, p.raw));
        const [validAnswers, poisonAnswers] = await Promise.all([Promise.all(valid), Promise.all(poison)]);
        expect(validAnswers.map((a) => a.status)).toEqual(Array(VALID).fill(200));
        expect(poisonAnswers.map((a, i) => [POISON[i]!.name, a.status])).toEqual(POISON.map((p) => [p.name, p.status]));
        for (const [i, a] of poisonAnswers.entries()) {
          if (a.status === 400) expect(JSON.parse(a.text), POISON[i]!.name).toEqual({ error: expect.stringMatching(/^events cannot be stored: /) });
        }
      }
      expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE provider_message_id LIKE 'wamid.valid.%'")).toBe(VALID * ROUNDS);
      expect(await count(wh, "SELECT count(DISTINCT provider_message_id) AS n FROM herald.events WHERE provider_message_id LIKE 'wamid.valid.%'")).toBe(VALID * ROUNDS);
      expect(await count(wh, 'SELECT count(*) AS n FROM herald.events')).toBe(VALID * ROUNDS + POISON_ROWS);
    });

    it('stores poison as coerced values: JSON bodies as JSON, NUL removed, numbers as text, impossible times as null', async () => {
      const other = await wh.query<{ payload: string }>(
        "SELECT CAST(payload AS TEXT) AS payload FROM herald.events WHERE event_type = 'other' AND error_detail = 'envelope without entry[]' ORDER BY 1");
      expect(other.map((r) => r.payload)).toEqual(['"hello"', '42']);
      const nul = await wh.query<{ provider_message_id: string; recipient: string; payload: string }>(
        "SELECT provider_message_id, recipient, CAST(payload AS TEXT) AS payload FROM herald.events WHERE provider_message_id LIKE 'wamid.poison.nul%'");
      expect(nul.map((r) => [r.provider_message_id, r.recipient, JSON.parse(r.payload).id])).toEqual([['wamid.poison.nulx', '+819000001', 'wamid.poison.nulx']]);
      expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE provider_message_id = '777000111' AND event_type = 'read'")).toBe(1);
      // However the parser reads it (as a status, or whole as `other` if it throws), the body is kept once.
      expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE CAST(payload AS TEXT) LIKE '%wamid.poison.num%'")).toBe(1);
      const [late] = await wh.query<{ occurred_at: Date | null }>("SELECT occurred_at FROM herald.events WHERE provider_message_id = 'wamid.poison.time'");
      expect(late).toEqual({ occurred_at: null });
      const [surrogate] = await wh.query<{ payload: string }>("SELECT CAST(payload AS TEXT) AS payload FROM herald.events WHERE provider_message_id = 'wamid.poison.surrogate'");
      expect(JSON.parse(surrogate!.payload).text).toEqual({ body: 'a\uFFFDb' });
      expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE provider_message_id = 'wamid.poison.deep'")).toBe(0);
    });

    it('a sink call that cannot be stored fails alone, in the same batch as good ones', async () => {
      const sink = eventSink(() => wh);
      const at = new Date(T0 * 1000);
      const ev = (id: string, payload: unknown): ProviderEvent => ({
        event_id: `sink-${id}`, provider: 'meta', event_type: 'delivered', provider_message_id: `wamid.sink.${id}`, recipient: '+819000000008',
        occurred_at: at, received_at: at, error_code: null, error_detail: null, pricing_category: null, payload,
      });
      // Calls of one tick form one batch.
      const results = await Promise.allSettled([sink.land([ev('a', {})]), sink.land([ev('bad', nested(1001))]), sink.land([ev('b', 'text'), ev('c', 3)])]);
      expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : r.reason instanceof UnstorableEvent ? 'unstorable' : 'other'))).toEqual(['ok', 'unstorable', 'ok']);
      const rows = await wh.query<{ provider_message_id: string; payload: string }>(
        "SELECT provider_message_id, CAST(payload AS TEXT) AS payload FROM herald.events WHERE provider_message_id LIKE 'wamid.sink.%' ORDER BY 1");
      expect(rows).toEqual([
        { provider_message_id: 'wamid.sink.a', payload: '{}' },
        { provider_message_id: 'wamid.sink.b', payload: '"text"' },
        { provider_message_id: 'wamid.sink.c', payload: '3' },
      ]);
    });
  });
}

poisonBesideValid('DuckDB', async () => ({ wh: await openWarehouse('duckdb::memory:'), cleanup: async () => undefined }));
poisonBesideValid('PostgreSQL', async () => {
  const pg = await freshPgUrl();
  return { wh: await openWarehouse(pg.url), cleanup: pg.cleanup };
});
