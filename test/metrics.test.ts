/** The Prometheus text a scrape returns, after a real run through the sandbox. */
import { describe, expect, it } from 'vitest';
import { JobSchema } from '../src/config/job.schema.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { silentLogger } from '../src/log.js';
import { metricsText, recordEventsLanded } from '../src/observability/metrics.js';
import { runJob } from '../src/pipeline/run-job.js';
import type { OutboundMessage, Provider, SendOutcome } from '../src/providers/provider.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';

const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

describe('metrics', () => {
  it('counts sends by status, times provider requests, shows queue depth and landed events', async () => {
    const wh = await DuckDbWarehouse.open(':memory:');
    const values = [0, 1, 2].map((i) => `('k${i}', '${phone(i)}', 'N${i}', 'yes')`).join(', ') + ", ('k3', 'garbage', 'N3', 'yes')";
    const job = JobSchema.parse({
      name: 'metrics_job', source: { query: `SELECT * FROM (VALUES ${values}) t(k, p, n, ok)` },
      audience: { key: 'k', phone: 'p', default_region: 'US', consent: 'ok' },
      message: { provider: 'sandbox', sender: 'metrics-sender', template: { name: 't', language: 'en' }, body: [{ column: 'n' }] },
    });
    const provider: Provider = {
      name: 'sandbox', defaultRatePerSecond: 100,
      send: async (m: OutboundMessage): Promise<SendOutcome> => ({ kind: 'accepted', providerMessageId: `w.${m.sendId}` }),
      close: async () => undefined,
    };
    await runJob({ loaded: { job, file: 'j.yaml', sql: job.source.query!, sqlOrigin: 'j.yaml' }, wh, provider, senders: new SenderRegistry(), logger: silentLogger });
    await wh.close();
    recordEventsLanded([{ provider: 'meta', event_type: 'delivered', occurred_at: new Date(Date.now() - 2000), received_at: new Date() }]);

    const { contentType, body } = await metricsText();
    expect(contentType).toMatch(/^text\/plain/);
    expect(body).toContain('herald_sends_total{provider="sandbox",status="accepted"} 3');
    expect(body).toContain('herald_sends_total{provider="sandbox",status="rejected"} 1');
    expect(body).toMatch(/herald_provider_request_seconds_count\{provider="sandbox",outcome="accepted"\} 3/);
    expect(body).toContain('herald_limiter_queue_depth{provider="sandbox",sender="metrics-sender"} 0');
    expect(body).toContain('herald_webhook_events_total{provider="meta",type="delivered"} 1');
    expect(body).toMatch(/herald_event_landing_lag_seconds_bucket\{le="5",provider="meta"\} 1/);
    expect(body).toContain('herald_process_resident_memory_bytes');
  });

  it('counts an event id seen again as a redelivery, until 65,536 newer ids have pushed it out', async () => {
    const at = new Date();
    const ev = (id: string) => ({ event_id: id, provider: 'ada', event_type: 'read', occurred_at: null, received_at: at });
    const many = (tag: string, n: number) => Array.from({ length: n }, (_, i) => ev(`${tag}-${i}`));
    const count = async (name: string) => Number(new RegExp(`${name}\\{provider="ada",type="read"\\} (\\d+)`).exec((await metricsText()).body)?.[1] ?? 0);
    recordEventsLanded(many('before', 65_536)); // whatever earlier tests left is pushed out
    const stored = await count('herald_webhook_events_total');
    const again = await count('herald_webhook_redeliveries_total');
    const delta = async () => [await count('herald_webhook_events_total') - stored, await count('herald_webhook_redeliveries_total') - again];

    recordEventsLanded([ev('first'), ev('second'), ev('first')]);
    expect(await delta()).toEqual([2, 1]);
    recordEventsLanded(many('fill', 65_534)); // 65,536 remembered now, `first` the oldest
    recordEventsLanded([ev('first')]);
    expect(await delta()).toEqual([2 + 65_534, 2]);
    recordEventsLanded([ev('newer')]); // pushes `first` out; `second` is the oldest now
    recordEventsLanded([ev('second')]);
    recordEventsLanded([ev('first')]);
    expect(await delta()).toEqual([2 + 65_534 + 1 + 1, 3]);
  });
});
