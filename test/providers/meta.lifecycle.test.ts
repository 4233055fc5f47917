/**
 * A template's life as Meta tells it, through whole runs against the fake Cloud API on a real
 * local server (issue 12 parts 2 and 3): the Marketing Messages API path, pre-flight refusing a
 * re-categorised or wrong-API template, and a run that stops when `herald serve` lands a PAUSED
 * webhook for its template, then finishes once the template is reinstated, nobody messaged twice.
 * Payload shapes (template listing, message_template_status_update, whatsapp_business_manager_
 * messaging_limit) follow Meta's pages as cited in docs/providers/meta-2026.md §2, §3 and §5.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import type { LoadedJob } from '../../src/config/load.js';
import { MetaConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { runJob, type RunOptions } from '../../src/pipeline/run-job.js';
import { MetaProvider } from '../../src/providers/meta/meta.provider.js';
import type { ServeHandle } from '../../src/server/serve.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.warehouse.js';
import { serve } from '../server/support.js';
import { FakeMeta } from '../support/fake-meta.js';
import { envelope, postMeta, WABA_ID } from '../webhooks/support.js';

const PHONE_ID = '106540352242922';
const TOKEN = 'EAAgood';
/** Generated Japanese mobiles that libphonenumber-js calls valid (marketing is not delivered to US numbers). */
const phone = (i: number) => `+8190123456${String(i).padStart(2, '0')}`;

/** Meta's template listing shape (GET /{waba-id}/message_templates). */
const template = (name: string, category: string, status = 'APPROVED') => ({
  id: `tpl_${name}`, name, language: 'en_US', status, category, quality_score: { score: 'GREEN' }, parameter_format: 'POSITIONAL',
  components: [{ type: 'BODY', text: 'Hello {{1}}, spring is here.' }],
});

function job(name: string, rows: number, message: Record<string, unknown>, delivery: Record<string, unknown> = {}): LoadedJob {
  const values = Array.from({ length: rows }, (_, i) => `('k${String(i).padStart(2, '0')}', '${phone(i)}', 'Name ${i}', true)`).join(', ');
  const parsed = JobSchema.parse({
    name,
    source: { query: `SELECT * FROM (VALUES ${values}) AS t(customer_id, phone, first_name, opt_in)` },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'JP', consent: 'opt_in' },
    message: { provider: 'meta', sender: PHONE_ID, template: { name: 'spring_sale', language: 'en_US' }, body: [{ column: 'first_name' }], ...message },
    delivery: { rate_per_second: 50, ...delivery },
  });
  return { job: parsed, file: `${name}.yaml`, sql: parsed.source.query!, sqlOrigin: `${name}.yaml source.query` };
}

describe('template lifecycle against the fake Cloud API', () => {
  let wh: DuckDbWarehouse;
  let fake: FakeMeta;
  let provider: MetaProvider;
  let templates: ReturnType<typeof template>[];
  let srv: ServeHandle | undefined;

  beforeEach(async () => {
    wh = await DuckDbWarehouse.open(':memory:');
    templates = [template('spring_sale', 'MARKETING'), template('order_update', 'UTILITY')];
    fake = await FakeMeta.start({ goodToken: TOKEN, templates });
    provider = new MetaProvider(MetaConfigSchema.parse({ base_url: fake.url, access_token: TOKEN, waba_id: WABA_ID }), { configFile: 'herald.yaml' });
  });
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
    await provider.close();
    await fake.close();
    await wh.close();
    delete process.env.HERALD_TEMPLATE_WATCH_MS;
  });

  const run = (loaded: LoadedJob, extra: Partial<RunOptions> = {}) => runJob({ loaded, wh, provider, senders: new SenderRegistry(), logger: silentLogger, ...extra });
  const sends = (loaded: LoadedJob) => fake.requests.filter((r) => r.method === 'POST' && r.to !== null && loaded.job.name !== '');

  it('api: auto sends a marketing template through /marketing_messages and a utility one through /messages; the ledger records which', async () => {
    const promo = await run(job('promo', 2, { meta: { api: 'auto' } }));
    expect(promo.counts.accepted).toBe(2);
    const posted = sends(job('promo', 0, {}));
    expect(posted.map((r) => r.path)).toEqual([`/v24.0/${PHONE_ID}/marketing_messages`, `/v24.0/${PHONE_ID}/marketing_messages`]);
    const [sendId] = (await wh.query<{ send_id: string }>("SELECT send_id FROM herald.sends WHERE row_key = 'k00' AND run_id = $1", [promo.run_id])).map((r) => r.send_id);
    expect(posted.find((r) => r.to === phone(0).slice(1))!.body).toEqual({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: phone(0), biz_opaque_callback_data: sendId, type: 'template',
      template: { name: 'spring_sale', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Name 0' }] }] },
    });
    expect(await wh.query('SELECT DISTINCT api FROM herald.sends WHERE run_id = $1', [promo.run_id])).toEqual([{ api: 'marketing_messages' }]);

    fake.requests.length = 0;
    const receipts = await run(job('receipts', 1, { template: { name: 'order_update', language: 'en_US' }, meta: { api: 'auto' } }));
    expect(receipts.counts.accepted).toBe(1);
    expect(sends(job('receipts', 0, {})).map((r) => r.path)).toEqual([`/v24.0/${PHONE_ID}/messages`]);
    expect(await wh.query('SELECT DISTINCT api FROM herald.sends WHERE run_id = $1', [receipts.run_id])).toEqual([{ api: 'messages' }]);
  });

  it('refuses before any send: a utility job whose template Meta re-filed as marketing, and the MM API with a utility template', async () => {
    const refused = async (loaded: LoadedJob) => {
      const err = await run(loaded).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
    };
    expect(await refused(job('recategorised', 2, { category: 'utility' }))).toEqual([
      'message.category: the job declares utility, but the provider now files template "spring_sale" under MARKETING',
    ]);
    expect(await refused(job('mm_utility', 2, { template: { name: 'order_update', language: 'en_US' }, meta: { api: 'marketing_messages' } }))).toEqual([
      'message.meta.api: the Marketing Messages API sends marketing templates only; template "order_update" is UTILITY',
    ]);
    templates[0]!.status = 'PAUSED';
    expect(await refused(job('paused', 2, {}))).toEqual(['message.template: template "spring_sale" (en_US) is PAUSED, not APPROVED']);
    expect(fake.requests.filter((r) => r.method === 'POST')).toEqual([]);
    expect(await wh.query('SELECT * FROM herald.sends')).toEqual([]);
  });

  it('a PAUSED webhook landed by serve stops the run (rows left pending); after REINSTATED the same run key sends the rest, each once', async () => {
    process.env.HERALD_TEMPLATE_WATCH_MS = '100';
    srv = await serve(wh);
    const loaded = job('spring', 30, {}, { rate_per_second: 10 });
    const paused = envelope([{ field: 'message_template_status_update', value: {
      event: 'PAUSED', message_template_id: 1234567890, message_template_name: 'spring_sale', message_template_language: 'en_US',
      reason: null, other_info: { title: 'FIRST_PAUSE', description: 'Your WhatsApp message template has been paused for 3 hours until Dec 3, 2026 at 3:00 PM UTC because it had issues.' },
    } }]);
    let posted = false;
    const first = await run(loaded, {
      runKey: 'spring-1',
      onProgress: (t) => {
        if (!posted && (t.byStatus.accepted ?? 0) >= 5) {
          posted = true;
          templates[0]!.status = 'PAUSED';
          void postMeta(srv!.url, paused);
        }
      },
    });
    expect(first.status).toBe('aborted');
    expect(first.error).toMatch(/^template "spring_sale" \(en_US\) was PAUSED by meta \(webhook received .*\); the run took no new rows after it; rows not sent stay pending/);
    expect(first.counts.accepted).toBeGreaterThanOrEqual(5);
    expect(first.counts.accepted).toBeLessThan(25);
    expect(first.counts.pending).toBe(30 - first.counts.accepted);

    // Still paused: the same run key is refused before any send.
    await expect(run(loaded, { runKey: 'spring-1' })).rejects.toThrow(/is PAUSED, not APPROVED/);

    templates[0]!.status = 'APPROVED';
    await postMeta(srv.url, envelope([{ field: 'message_template_status_update', value: {
      event: 'REINSTATED', message_template_id: 1234567890, message_template_name: 'spring_sale', message_template_language: 'en_US', reason: null,
    } }]));
    const resumed = await run(loaded, { runKey: 'spring-1' });
    expect(resumed.status).toBe('succeeded');
    expect(resumed.counts.accepted).toBe(30);
    const perRecipient = new Map<string, number>();
    for (const a of fake.accepted) perRecipient.set(a.to, (perRecipient.get(a.to) ?? 0) + 1);
    expect(perRecipient.size).toBe(30);
    expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
  }, 30_000);

  it('reads the portfolio\'s messaging limit from the number, unless the config says it', async () => {
    const limitOf = async (o: { tier?: string; configured?: number | 'unlimited' }) => {
      const f = await FakeMeta.start({ goodToken: TOKEN, ...(o.tier ? { messagingLimit: o.tier } : {}) });
      const p = new MetaProvider(MetaConfigSchema.parse({ base_url: f.url, access_token: TOKEN, ...(o.configured ? { messaging_limit: o.configured } : {}) }), { configFile: 'herald.yaml' });
      try {
        return await p.messagingLimit(PHONE_ID);
      } finally {
        await p.close();
        await f.close();
      }
    };
    expect(await limitOf({ tier: 'TIER_2K' })).toEqual({ limit: 2000, source: 'meta TIER_2K' });
    expect(await limitOf({ tier: 'TIER_UNLIMITED' })).toEqual({ limit: null, source: 'meta TIER_UNLIMITED' });
    expect(await limitOf({})).toBeUndefined(); // Meta does not say: no limit is assumed, the run is not held
    expect(await limitOf({ tier: 'TIER_100K', configured: 250 })).toEqual({ limit: 250, source: 'providers.meta.messaging_limit' });
  });

  it('through the MM API, message_send_ttl_seconds is the time left before delivery.not_after in the recipient\'s zone', async () => {
    // 01:00 UTC is 10:00 in Tokyo: 11 h before not_after 21:00.
    const loaded = job('promo_ttl', 1, { meta: { api: 'marketing_messages' } }, { not_before: '09:00', not_after: '21:00' });
    const r = await run(loaded, { now: () => new Date('2026-12-03T01:00:00Z') });
    expect(r.counts.accepted).toBe(1);
    const [posted] = sends(loaded);
    expect(posted!.path).toBe(`/v24.0/${PHONE_ID}/marketing_messages`);
    expect((posted!.body as Record<string, unknown>).message_send_ttl_seconds).toBe(11 * 3600);
  });
});
