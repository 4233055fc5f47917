/**
 * End to end: a run through the meta adapter against a Meta-like server that, after accepting
 * each message, POSTs signed status webhooks (batched, out of order, duplicated) to a running
 * `herald serve`; herald.run_funnel then equals what that server reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import type { LoadedJob } from '../../src/config/load.js';
import { MetaConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { silentLogger } from '../../src/log.js';
import { runJob } from '../../src/pipeline/run-job.js';
import { MetaProvider } from '../../src/providers/meta/meta.provider.js';
import type { ServeHandle } from '../../src/server/serve.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { APP_SECRET } from '../webhooks/support.js';
import { MetaLike } from './meta-like.js';
import { serve } from './support.js';

const TOKEN = 'EAAe2e';
const ROWS = 40;
const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

function loadedJob(): LoadedJob {
  const values = Array.from({ length: ROWS }, (_, i) => `('k${String(i).padStart(3, '0')}', '${phone(i)}', 'Name ${i}', true)`).join(', ');
  const job = JobSchema.parse({
    name: 'webhook_e2e',
    source: { query: `SELECT * FROM (VALUES ${values}) AS t(customer_id, phone, first_name, opt_in) ORDER BY customer_id` },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'US', consent: 'opt_in' },
    message: { provider: 'meta', sender: '106540352242922', template: { name: 'welcome_back', language: 'en_US' }, body: [{ column: 'first_name' }] },
    delivery: { rate_per_second: 400, concurrency: 8 },
  });
  return { job, file: 'webhook_e2e.yaml', sql: job.source.query!, sqlOrigin: 'query' };
}

describe('a run whose outcomes come back as webhooks through herald serve', () => {
  let wh: Warehouse;
  let srv: ServeHandle;
  let meta: MetaLike;
  beforeAll(async () => {
    wh = await openWarehouse('duckdb::memory:');
    srv = await serve(wh);
    meta = await MetaLike.start({ token: TOKEN, appSecret: APP_SECRET, webhookUrl: `${srv.url}/webhooks/meta`, undeliverable: [phone(7).slice(1)] });
  });
  afterAll(async () => {
    await meta?.close();
    await srv?.close();
    await wh?.close();
  });

  it('herald.run_funnel equals what the Meta-like server reported', async () => {
    const provider = new MetaProvider(MetaConfigSchema.parse({ base_url: meta.url, access_token: TOKEN }), { configFile: 'herald.yaml', phoneNumberId: '106540352242922' });
    const summary = await runJob({ loaded: loadedJob(), wh, provider, senders: new SenderRegistry(), logger: silentLogger });
    await provider.close();
    await meta.settled();
    expect(summary.counts.accepted).toBe(ROWS - 1);
    expect(meta.tally.accepted).toBe(ROWS - 1);
    expect(meta.tally.retries).toBe(0);
    const [funnel] = await wh.query<Record<string, unknown>>(
      'SELECT audience, accepted, delivered, read, failed, delivery_rate, read_rate FROM herald.run_funnel WHERE run_id = $1', [summary.run_id]);
    const n = (k: string) => Number(funnel![k]);
    expect({ audience: n('audience'), accepted: n('accepted'), delivered: n('delivered'), read: n('read'), failed: n('failed') }).toEqual({
      audience: ROWS,
      accepted: meta.tally.accepted,
      delivered: meta.tally.delivered,
      read: meta.tally.read,
      // Failed in a webhook after acceptance, and refused at send time.
      failed: meta.tally.failed + meta.tally.refused,
    });
    expect(n('delivery_rate')).toBeCloseTo(meta.tally.delivered / meta.tally.accepted, 10);
    // Every status landed once, though each message's last status was posted twice.
    const [events] = await wh.query<{ n: number }>("SELECT count(*) AS n FROM herald.events WHERE provider = 'meta'");
    expect(Number(events!.n)).toBe(meta.tally.statuses - meta.tally.accepted);
    expect(meta.tally.posts).toBeGreaterThan(1);
    expect(meta.tally.posts).toBeLessThan(meta.tally.accepted);
  });
});
