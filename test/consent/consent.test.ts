/**
 * The consent loop: keywords and payloads as configured, suppressions that follow each
 * recipient's latest consent event whatever the arrival order, and the next run that gives an
 * opted-out recipient `suppressed / opted_out` (and sends again after an opt-in).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import type { LoadedJob } from '../../src/config/load.js';
import { ConsentConfigSchema, SandboxConfigSchema } from '../../src/config/runtime.schema.js';
import { consentEvent } from '../../src/consent/events.js';
import { consentRules } from '../../src/consent/rules.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { eventId, eventSink, landEvents, type ProviderEvent } from '../../src/events/event.js';
import { silentLogger } from '../../src/log.js';
import { runJob } from '../../src/pipeline/run-job.js';
import { SandboxProvider } from '../../src/providers/sandbox/sandbox.provider.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';

describe('consent rules', () => {
  const rules = consentRules();
  it('whole-message keywords of every language, any case or width, trailing punctuation ignored', () => {
    for (const t of ['STOP', ' stop ', 'Stop.', 'UNSUBSCRIBE', '停止', '配信停止', 'berhenti', 'ＳＴＯＰ', 'stop!']) {
      expect(rules.classify({ text: t })?.change, t).toBe('opted_out');
    }
    for (const t of ['please stop by', 'stopping', '', 'STOP IT NOW']) expect(rules.classify({ text: t }), t).toBeNull();
    expect(rules.classify({ text: 'start' })).toEqual({ change: 'opted_in', how: 'keyword' });
    expect(rules.classify({ payload: 'OPT_OUT', text: 'No more offers' })).toEqual({ change: 'opted_out', how: 'quick_reply' });
    expect(rules.classify({ payload: 'opt_out' })).toBeNull(); // payloads are exact
  });

  it('configured lists replace the defaults; opt-out wins a word in both', () => {
    const custom = consentRules(ConsentConfigSchema.parse({ opt_out_keywords: { th: ['หยุด'], en: ['QUIT', 'SAME'] }, opt_in_keywords: { en: ['SAME'] }, opt_out_payloads: ['NO_PROMO'] }));
    expect(custom.classify({ text: 'หยุด' })?.change).toBe('opted_out');
    expect(custom.classify({ text: 'stop' })).toBeNull();
    expect(custom.classify({ text: 'same' })?.change).toBe('opted_out');
    expect(custom.classify({ payload: 'NO_PROMO' })?.how).toBe('quick_reply');
  });
});

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
function inbound(recipient: string, id: string, second: number): ProviderEvent {
  return {
    event_id: eventId('meta', ['message', id]), provider: 'meta', event_type: 'inbound', provider_message_id: id, recipient,
    occurred_at: at(second), received_at: new Date(), error_code: null, error_detail: null, pricing_category: null, payload: { id },
  };
}

describe('suppressions follow the latest consent event', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await openWarehouse('duckdb::memory:');
  });
  afterAll(() => wh.close());
  const suppressed = async () => (await wh.query<{ recipient: string }>('SELECT recipient FROM herald.suppressions ORDER BY recipient')).map((r) => r.recipient);

  it('whatever order the opt-out and opt-in arrive in', async () => {
    const out1 = consentEvent(inbound('+819000000001', 'a', 10), 'opted_out', 'keyword');
    const in1 = consentEvent(inbound('+819000000001', 'b', 20), 'opted_in', 'keyword');
    await landEvents(wh, [in1]);
    await landEvents(wh, [out1]); // the older opt-out arrives late
    const out2 = consentEvent(inbound('+819000000002', 'c', 30), 'opted_out', 'keyword');
    const in2 = consentEvent(inbound('+819000000002', 'd', 20), 'opted_in', 'keyword');
    await landEvents(wh, [out2, in2]); // one batch, the opt-in older
    expect(await suppressed()).toEqual(['+819000000002']);
    // A tie is an opt-out: the safe side.
    await landEvents(wh, [consentEvent(inbound('+819000000003', 'e', 40), 'opted_in', 'k'), consentEvent(inbound('+819000000003', 'f', 40), 'opted_out', 'k')]);
    expect(await suppressed()).toEqual(['+819000000002', '+819000000003']);
  });
});

describe('the next run', () => {
  let wh: Warehouse;
  beforeAll(async () => {
    wh = await openWarehouse('duckdb::memory:');
  });
  afterAll(() => wh.close());

  const job = (name: string): LoadedJob => {
    const parsed = JobSchema.parse({
      name,
      source: { query: "SELECT * FROM (VALUES ('k1', '+819012345671', true), ('k2', '+819012345672', true)) AS t(customer_id, phone, opt_in)" },
      audience: { key: 'customer_id', phone: 'phone', default_region: 'JP', consent: 'opt_in' },
      message: { provider: 'sandbox', sender: '15550001234', template: { name: 'welcome_back', language: 'ja' } },
      delivery: { rate_per_second: 1000, dedupe: 'run' },
    });
    return { job: parsed, file: `${name}.yaml`, sql: parsed.source.query!, sqlOrigin: 'query' };
  };
  const run = async (name: string) => {
    const provider = new SandboxProvider(SandboxConfigSchema.parse({ latency_ms: 0, max_event_delay_ms: 0, permanent_failure_ratio: 0, transient_failure_ratio: 0 }), eventSink(() => wh).land);
    const summary = await runJob({ loaded: job(name), wh, provider, senders: new SenderRegistry(), logger: silentLogger });
    await provider.close();
    return wh.query<{ row_key: string; status: string; reason: string | null; error_detail: string | null }>(
      'SELECT row_key, status, reason, error_detail FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [summary.run_id]);
  };

  it('gives an opted-out recipient suppressed / opted_out, and sends again after an opt-in', async () => {
    await landEvents(wh, [consentEvent(inbound('+819012345672', 'stop-1', 10), 'opted_out', 'keyword')]);
    expect((await run('consent_a')).map((s) => `${s.row_key} ${s.status} ${s.reason ?? ''}`)).toEqual(['k1 accepted ', 'k2 suppressed opted_out']);
    await landEvents(wh, [consentEvent(inbound('+819012345672', 'start-1', 20), 'opted_in', 'keyword')]);
    expect((await run('consent_b')).map((s) => `${s.row_key} ${s.status}`)).toEqual(['k1 accepted', 'k2 accepted']);
  });
});
