/**
 * Meta's marketing rules as the ledger keeps them, the same on DuckDB and PostgreSQL (issue 12
 * part 2): 131049 in a status webhook defers the send for 24 h (never failed, never sooner), and a
 * marketing run rejects rows in countries where Meta does not deliver marketing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobSchema } from '../src/config/job.schema.js';
import type { LoadedJob } from '../src/config/load.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { landEvents } from '../src/events/event.js';
import { silentLogger } from '../src/log.js';
import { runJob } from '../src/pipeline/run-job.js';
import { watchTemplate } from '../src/pipeline/template-watch.js';
import { parseMetaWebhook } from '../src/providers/meta/meta.webhook.js';
import { consentRules } from '../src/consent/rules.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { ENGINES } from './helpers/engines.js';
import { fixture } from './webhooks/support.js';
import { accepted, ScriptedProvider } from './support/scripted-provider.js';

/** Meta's own 131049 status sample (test/fixtures/meta/status-failed.json, from ../shared/fixtures), pointed at a send of ours. */
function status131049(wamid: string, sendId: string, at: Date): unknown {
  const body = JSON.parse(fixture('meta/status-failed.json')) as {
    entry: { changes: { value: { statuses: Record<string, unknown>[] } }[] }[];
  };
  Object.assign(body.entry[0]!.changes[0]!.value.statuses[0]!, { id: wamid, biz_opaque_callback_data: sendId, timestamp: String(Math.floor(at.getTime() / 1000)) });
  return body;
}

/** Generated numbers: US 201-555-01xx, and JP / BR mobiles that libphonenumber-js calls valid. */
const US = '+12015550142';
const JP = '+819012345601';
const BR = '+5511912345601';

function job(name: string, rows: [string, string][], message: Record<string, unknown> = {}): LoadedJob {
  const values = rows.map(([key, phone]) => `('${key}', '${phone}', 'true')`).join(', ');
  const parsed = JobSchema.parse({
    name,
    source: { query: `SELECT * FROM (VALUES ${values}) AS t(customer_id, phone, opt_in)` },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'US', consent: 'opt_in' },
    message: { provider: 'sandbox', sender: '15550001234', template: { name: 'spring_sale', language: 'en_US' }, ...message },
    delivery: { rate_per_second: 1000, concurrency: 4 },
  });
  return { job: parsed, file: `${name}.yaml`, sql: parsed.source.query!, sqlOrigin: `${name}.yaml source.query` };
}

describe.each(ENGINES)('marketing rules on $name', (engine) => {
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ wh, cleanup } = await engine.open()));
  afterAll(async () => {
    await wh.close();
    await cleanup();
  });
  const run = (loaded: LoadedJob, provider: ScriptedProvider, now?: () => Date) =>
    runJob({ loaded, wh, provider, senders: new SenderRegistry(), logger: silentLogger, ...(now ? { now } : {}) });
  const sendsOf = async (runId: string) => wh.query<{ row_key: string; status: string; reason: string | null; error_code: string | null; not_before: Date | string | null }>(
    'SELECT row_key, status, reason, error_code, not_before FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [runId]);

  it('131049 in a status webhook defers the accepted send for 24 h: not failed, not sent again sooner, sent after', async () => {
    const loaded = job('fatigue', [['a', US], ['b', JP]], { category: 'utility' });
    const provider = new ScriptedProvider(accepted);
    const first = await run(loaded, provider);
    expect(first.counts.accepted).toBe(2);
    const [sendA] = await wh.query<{ send_id: string; provider_message_id: string }>("SELECT send_id, provider_message_id FROM herald.sends WHERE run_id = $1 AND row_key = 'a'", [first.run_id]);
    const at = new Date('2026-12-01T10:00:00Z');
    const parsed = parseMetaWebhook(status131049(sendA!.provider_message_id, sendA!.send_id, at), new Date(), consentRules());
    await landEvents(wh, parsed.events);
    await landEvents(wh, parsed.events); // a redelivery changes nothing

    const [a, b] = await sendsOf(first.run_id);
    expect([a!.status, a!.reason, a!.error_code]).toEqual(['deferred', 'provider:131049', '131049']);
    expect(new Date(a!.not_before!).toISOString()).toBe('2026-12-02T10:00:00.000Z'); // the status's time + 24 h
    expect(b!.status).toBe('accepted');
    const [status] = await wh.query<{ status: string }>('SELECT status FROM herald.message_status WHERE send_id = $1', [sendA!.send_id]);
    expect(status!.status).toBe('deferred'); // not failed in the funnel

    // 23 h after the status: the job leaves the row alone; 25 h after: it is sent again, once.
    const soon = await run(loaded, provider, () => new Date('2026-12-02T09:00:00Z'));
    expect((await sendsOf(soon.run_id)).map((s) => `${s.row_key} ${s.status}/${s.reason}`)).toEqual(['a deferred/not_before', 'b duplicate/already_sent']);
    const later = await run(loaded, provider, () => new Date('2026-12-02T11:00:00Z'));
    expect((await sendsOf(later.run_id)).map((s) => `${s.row_key} ${s.status}/${s.reason}`)).toEqual(['a accepted/null', 'b duplicate/already_sent']);
    expect(provider.calls.map((c) => c.recipient)).toEqual(expect.arrayContaining([US, JP]));
    expect(provider.calls.filter((c) => c.recipient === US)).toHaveLength(2); // first run, and after the 24 h
  });

  it('a 131049 status that lands while its send is still in flight defers it at the next run\'s start', async () => {
    const loaded = job('fatigue_race', [['a', BR]], { category: 'utility' });
    const provider = new ScriptedProvider(accepted);
    const first = await run(loaded, provider);
    const [send] = await wh.query<{ send_id: string; provider_message_id: string; created_at: Date | string }>(
      'SELECT send_id, provider_message_id, created_at FROM herald.sends WHERE run_id = $1', [first.run_id]);
    // The webhook beats the ledger's settlement: it lands while the row is in flight, then the answer writes accepted.
    await wh.query("UPDATE herald.sends SET status = 'in_flight' WHERE send_id = $1", [send!.send_id]);
    const at = new Date('2026-12-01T10:00:00Z');
    await landEvents(wh, parseMetaWebhook(status131049(send!.provider_message_id, send!.send_id, at), new Date(), consentRules()).events);
    await wh.query("UPDATE herald.sends SET status = 'accepted' WHERE send_id = $1", [send!.send_id]);

    const next = await run(loaded, provider, () => new Date('2026-12-01T12:00:00Z'));
    expect((await sendsOf(next.run_id)).map((s) => `${s.row_key} ${s.status}/${s.reason}`)).toEqual(['a deferred/not_before']);
    const [settled] = await sendsOf(first.run_id);
    expect([settled!.status, settled!.error_code, new Date(settled!.not_before!).toISOString()]).toEqual(['deferred', '131049', '2026-12-02T10:00:00.000Z']);
    expect(provider.calls).toHaveLength(1);
  });

  it('a marketing run rejects rows in marketing_not_delivered_in countries before any send; other categories send them', async () => {
    const rows: [string, string][] = [['us', US], ['jp', JP], ['br', BR]];
    const provider = new ScriptedProvider(accepted);
    const marketing = await run(job('promo', rows, { category: 'marketing' }), provider);
    const fates = (await sendsOf(marketing.run_id)).map((s) => `${s.row_key} ${s.status}/${s.reason}`);
    expect(fates).toEqual(['br accepted/null', 'jp accepted/null', 'us rejected/marketing_not_delivered_in_country']);
    expect(provider.calls.map((c) => c.recipient).sort()).toEqual([BR, JP].sort());

    const elsewhere = job('promo_br', rows, { category: 'marketing' });
    elsewhere.job.delivery.marketing_not_delivered_in = ['BR'];
    expect((await sendsOf((await run(elsewhere, provider)).run_id)).map((s) => `${s.row_key} ${s.status}`)).toEqual(['br rejected', 'jp accepted', 'us accepted']);

    const utility = await run(job('receipt', rows, { category: 'utility' }), provider);
    expect((await sendsOf(utility.run_id)).every((s) => s.status === 'accepted')).toBe(true);
  });

  it('a running job\'s template watch: stops on PAUSED and on a completed re-categorisation, not on the notice before it or a pause undone', async () => {
    const land = (field: string, value: Record<string, unknown>) =>
      landEvents(wh, parseMetaWebhook({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [{ field, value }] }] }, new Date(), consentRules()).events);
    const watching = (name: string, category: string) => watchTemplate({
      wh, provider: 'meta', template: { name, language: 'en_US' }, category, since: new Date(Date.now() - 1000), everyMs: 20, logger: silentLogger,
    });
    const settle = () => new Promise((r) => setTimeout(r, 150));
    const status = (name: string, event: string) => land('message_template_status_update', { event, message_template_id: 1, message_template_name: name, message_template_language: 'en_US', reason: null });

    const paused = watching('tpl_paused', 'marketing');
    await status('tpl_paused', 'PAUSED');
    await settle();
    expect(paused.signal.aborted).toBe(true);
    expect((paused.signal.reason as Error).message).toMatch(/^template "tpl_paused" \(en_US\) was PAUSED by meta/);
    paused.close();

    // Both land before the watch first looks (a look between them would rightly stop the run).
    await status('tpl_blip', 'PAUSED');
    await new Promise((r) => setTimeout(r, 5)); // received in this order (the watch reads them by arrival)
    await status('tpl_blip', 'REINSTATED');
    const undone = watching('tpl_blip', 'marketing');
    await settle();
    expect(undone.signal.aborted).toBe(false);
    undone.close();

    const recategorised = watching('tpl_cat', 'utility');
    // Meta's notice 24 h before: correct_category, no previous_category.
    await land('template_category_update', { message_template_id: 2, message_template_name: 'tpl_cat', message_template_language: 'en_US', new_category: 'UTILITY', correct_category: 'MARKETING', category_update_timestamp: 1764000000 });
    await settle();
    expect(recategorised.signal.aborted).toBe(false);
    await land('template_category_update', { message_template_id: 2, message_template_name: 'tpl_cat', message_template_language: 'en_US', previous_category: 'UTILITY', new_category: 'MARKETING' });
    await settle();
    expect((recategorised.signal.reason as Error).message).toMatch(/re-categorised from UTILITY to MARKETING .* and the run sends utility/);
    recategorised.close();
  });
});
