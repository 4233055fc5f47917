/**
 * `herald serve` through a PostgreSQL outage (issue 10, item 8 and "Outages"): the connection to
 * PostgreSQL runs through a TCP proxy on loopback that the test cuts and restores, so the shared
 * server is never restarted. While it is cut: webhooks 503 with Retry-After, /readyz 503, /healthz
 * 200, no crash. Once restored: webhooks land again without a restart, and every request that got
 * a 200 is in herald.events exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHandle } from '../../src/server/serve.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { freshPgUrl } from '../helpers/pg.js';
import { CuttableProxy } from '../support/cuttable-proxy.js';
import { envelope, messagesChange, postMeta, signature, status } from '../webhooks/support.js';
import { count, serve } from './support.js';

const T0 = 1_767_225_600;

const body = (id: string, i = 0) => envelope([messagesChange({ statuses: [status({ id, status: 'delivered', timestamp: T0 + i, recipient: '819000000001' })] })]);
const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() as Record<string, unknown> };
};

describe('herald serve through a PostgreSQL outage', () => {
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  let proxy: CuttableProxy;
  let srv: ServeHandle;
  beforeAll(async () => {
    const pg = await freshPgUrl();
    cleanup = pg.cleanup;
    const url = new URL(pg.url);
    proxy = new CuttableProxy({ host: url.hostname, port: Number(url.port || 5432) });
    await proxy.open();
    url.host = `127.0.0.1:${proxy.port}`;
    wh = await openWarehouse(url.toString());
    srv = await serve(wh);
  });
  afterAll(async () => {
    await srv?.close();
    await wh?.close();
    await proxy?.cut();
    await cleanup?.();
  });

  it('answers 503 while PostgreSQL is unreachable and lands again once it is back, with no restart', async () => {
    expect((await postMeta(srv.url, body('wamid.before'))).status).toBe(200);
    expect(await get(`${srv.url}/readyz`)).toEqual({ status: 200, body: { status: 'ready' } });

    await proxy.cut();
    const during = await Promise.all(Array.from({ length: 10 }, (_, i) => postMeta(srv.url, body(`wamid.during.${i}`, i))));
    expect(during.map((a) => a.status)).toEqual(Array(10).fill(503));
    const raw = JSON.stringify(body('wamid.during.0'));
    const one = await fetch(`${srv.url}/webhooks/meta`, { method: 'POST', body: raw, headers: { 'x-hub-signature-256': signature(raw) } });
    expect([one.status, one.headers.get('retry-after'), await one.json()]).toEqual([503, '5', { error: 'storage unavailable, retry later' }]);
    const ready = await get(`${srv.url}/readyz`);
    expect(ready).toEqual({ status: 503, body: { status: 'unavailable', reason: expect.stringMatching(/^postgres unreachable: /) } });
    expect((await get(`${srv.url}/healthz`)).status).toBe(200);

    await proxy.open();
    expect(await get(`${srv.url}/readyz`)).toEqual({ status: 200, body: { status: 'ready' } });
    // The provider's retries of the refused requests now land.
    const retried = await Promise.all(Array.from({ length: 10 }, (_, i) => postMeta(srv.url, body(`wamid.during.${i}`, i))));
    expect(retried.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE provider_message_id LIKE 'wamid.during.%'")).toBe(10);
    expect(await count(wh, 'SELECT count(*) AS n FROM herald.events')).toBe(11);
  });

  it('cut mid-ingest: every request gets 200 or 503, and every 200 is stored exactly once', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `wamid.mid.${i}`);
    const answers: { status: number }[] = [];
    let landed = 0;
    let cut: Promise<void> | undefined;
    // 8 requests in flight at a time; the connection drops once 20 have landed, with others under way.
    const worker = async () => {
      for (let i = answers.length; i < ids.length; i = answers.length) {
        answers[i] = { status: 0 }; // claimed
        answers[i] = await postMeta(srv.url, body(ids[i]!, i));
        if (answers[i]!.status === 200 && ++landed === 20) cut = proxy.cut();
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await cut;
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(20);
    expect(answers.filter((a) => a.status === 503).length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    await proxy.open();
    // A 503 may still have been stored (committed, then the connection dropped); a 200 must have been.
    const acknowledged = ids.filter((_, i) => answers[i]!.status === 200);
    const stored = new Set((await wh.query<{ provider_message_id: string }>(
      "SELECT provider_message_id FROM herald.events WHERE provider_message_id LIKE 'wamid.mid.%'")).map((r) => r.provider_message_id));
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    // The provider retries what was refused; then everything is there once.
    for (const [i, id] of ids.entries()) if (answers[i]!.status === 503) expect((await postMeta(srv.url, body(id, i))).status).toBe(200);
    expect(await count(wh, "SELECT count(*) AS n FROM herald.events WHERE provider_message_id LIKE 'wamid.mid.%'")).toBe(200);
    expect(await count(wh, "SELECT count(DISTINCT provider_message_id) AS n FROM herald.events WHERE provider_message_id LIKE 'wamid.mid.%'")).toBe(200);
  });
});
