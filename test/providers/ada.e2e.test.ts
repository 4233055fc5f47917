/**
 * One whole run through the ADA adapter against a small fake ADA on a local socket: ADA's 5/s is
 * held, a 500 is retried to acceptance, a 400 fails its row with ADA's code, ids are landed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { silentLogger } from '../../src/log.js';
import { runJob } from '../../src/pipeline/run-job.js';
import { createProvider } from '../../src/providers/registry.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.warehouse.js';

const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

let server: Server | undefined;
let wh: DuckDbWarehouse | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await wh?.close();
});

it('ada: a run lands ids, retries a 500, fails a 400 with ADA\'s code, never above 5/s', async () => {
  const arrivals: number[] = [];
  const seen = new Map<string, number>();
  const bodies: Record<string, unknown>[] = [];
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.headers.authorization !== 'Bearer ada-key') return reply(401, { code: 'UNAUTHORIZED', message: 'bad token' });
      const body = JSON.parse(text) as { to: string };
      bodies.push(body);
      arrivals.push(performance.now());
      const times = (seen.get(body.to) ?? 0) + 1;
      seen.set(body.to, times);
      if (body.to === phone(2).slice(1)) return reply(400, { code: 'INVALID_RECIPIENT', message: 'not on WhatsApp' });
      if (body.to === phone(4).slice(1) && times === 1) return reply(500, { message: 'try again' });
      return reply(200, { status: 'success', messageId: `ada-${body.to}` });
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod`;

  wh = await DuckDbWarehouse.open(':memory:');
  const values = Array.from({ length: 7 }, (_, i) => `('k${i}', '${phone(i)}', 'Name ${i}', 'true')`).join(', ');
  const job = JobSchema.parse({
    name: 'ada_e2e',
    source: { query: `SELECT * FROM (VALUES ${values}) AS t(customer_id, phone, first_name, opt_in)` },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'US', consent: 'opt_in' },
    message: { provider: 'ada', sender: '60136959014', template: { name: 'promo', language: 'en' }, body: [{ column: 'first_name' }] },
  });
  const config: LoadedConfig = { config: RuntimeConfigSchema.parse({ providers: { ada: { base_url: url, api_key: 'ada-key' } } }), file: 'herald.yaml', missing: [] };
  const provider = createProvider('ada', config, { events: async () => {}, message: job.message }, 'ada_e2e.yaml');
  const summary = await runJob({
    loaded: { job, file: 'ada_e2e.yaml', sql: job.source.query!, sqlOrigin: 'ada_e2e.yaml source.query' },
    wh, provider, senders: new SenderRegistry(), logger: silentLogger,
  });
  await provider.close();

  expect(summary).toMatchObject({ status: 'succeeded', exit_code: 0, counts: { audience: 7, accepted: 6, failed: 1 } });
  const sends = await wh.query<{ row_key: string; status: string; error_code: string | null; provider_message_id: string | null; attempts: number }>(
    'SELECT row_key, status, error_code, provider_message_id, attempts FROM herald.sends ORDER BY row_key');
  expect(sends).toEqual(Array.from({ length: 7 }, (_, i) => (i === 2
    ? { row_key: 'k2', status: 'failed', error_code: 'INVALID_RECIPIENT', provider_message_id: null, attempts: 1 }
    : { row_key: `k${i}`, status: 'accepted', error_code: null, provider_message_id: `ada-${phone(i).slice(1)}`, attempts: i === 4 ? 2 : 1 })));
  expect(bodies[0]).toMatchObject({ platform: 'WA', from: '60136959014', type: 'template', templateName: 'promo', templateLang: 'en' });
  // ADA's default 5 messages/s. The limiter holds it at the moments requests start; arrivals also
  // carry network jitter (the first request pays for its connection), so windows here are 1 s
  // less 50 ms of it.
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    while (arrivals[i]! - arrivals[j]! >= 950) j++;
    expect(i - j + 1).toBeLessThanOrEqual(5);
  }
});
