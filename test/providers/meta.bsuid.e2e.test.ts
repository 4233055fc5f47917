/**
 * A job whose segment gives business-scoped user ids (audience.user_id), end to end on both
 * engines: the exact body the fake Cloud API receives (`recipient` instead of `to`), rows whose
 * phone maps to an opted-out BSUID suppressed, and webhooks that name only the BSUID attributed
 * to the send (status and reply) in herald.message_status. Then the sandbox with a BSUID.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import type { LoadedJob } from '../../src/config/load.js';
import { MetaConfigSchema, SandboxConfigSchema } from '../../src/config/runtime.schema.js';
import { consentRules } from '../../src/consent/rules.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { eventSink, landEvents } from '../../src/events/event.js';
import { silentLogger } from '../../src/log.js';
import { runJob } from '../../src/pipeline/run-job.js';
import { SUPPRESSIONS } from '../../src/warehouse/tables.js';
import { MetaProvider } from '../../src/providers/meta/meta.provider.js';
import { parseMetaWebhook } from '../../src/providers/meta/meta.webhook.js';
import { SandboxProvider } from '../../src/providers/sandbox/sandbox.provider.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { ENGINES } from '../helpers/engines.js';
import { FakeMeta } from '../support/fake-meta.js';
import { envelope, messagesChange } from '../webhooks/support.js';

const PHONE_ID = '106540352242922';
const TOKEN = 'EAAgood';
const ANN = 'US.13491208655302741918';
const OPTED_OUT = 'US.8000000000000001';


function loadedJob(name: string, provider: 'meta' | 'sandbox', rows: string): LoadedJob {
  const job = JobSchema.parse({
    name,
    source: { query: `SELECT * FROM (VALUES ${rows}) AS t(id, bsuid, phone, first_name, ok)` },
    audience: { key: 'id', phone: 'phone', user_id: 'bsuid', default_region: 'US', consent: 'ok' },
    message: { provider, sender: PHONE_ID, template: { name: 'promo', language: 'en_US' }, body: [{ column: 'first_name' }] },
  });
  return { job, file: `${name}.yaml`, sql: job.source.query!, sqlOrigin: `${name}.yaml source.query` };
}

describe.each(ENGINES)('a job with audience.user_id on $name', (engine) => {
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  let fake: FakeMeta;
  beforeAll(async () => {
    ({ wh, cleanup } = await engine.open());
    fake = await FakeMeta.start({ goodToken: TOKEN });
  });
  afterAll(async () => {
    await fake.close();
    await wh.close();
    await cleanup();
  });
  const land = (body: unknown) => landEvents(wh, parseMetaWebhook(body, new Date(), consentRules()).events);

  it('sends to the BSUID in `recipient`, suppresses the phone of an opted-out BSUID, and attributes BSUID-only webhooks to the send', async () => {
    // A username-only user writes STOP; a later status shows their phone next to that BSUID.
    await land(envelope([messagesChange({
      contacts: [{ profile: { name: 'O', username: '@o' }, user_id: OPTED_OUT }],
      messages: [{ from_user_id: OPTED_OUT, id: 'wamid.stop', timestamp: '1760000000', type: 'text', text: { body: 'STOP' } }],
    })]));
    await land(envelope([messagesChange({
      contacts: [{ profile: { name: 'O' }, wa_id: '12015550111', user_id: OPTED_OUT }],
      statuses: [{ id: 'wamid.old', status: 'delivered', timestamp: '1760000100', recipient_id: '12015550111', recipient_user_id: OPTED_OUT }],
    })]));

    const provider = new MetaProvider(MetaConfigSchema.parse({ base_url: fake.url, access_token: TOKEN }), { configFile: 'herald.yaml' });
    const loaded = loadedJob('bsuid_e2e', 'meta', [
      `('r1', '${ANN}', NULL, 'Ann', true)`,
      "('r2', NULL, '+12015550110', 'Bo', true)",
      "('r3', NULL, '+12015550111', 'Cy', true)",
      `('r4', '${OPTED_OUT}', NULL, 'Di', true)`,
      "('r5', 'user-42', '+12015550112', 'Ed', true)",
      // A BSUID Meta never paired with anything, beside a phone that opted out directly.
      "('r6', 'US.77700000000000000001', '+12015550113', 'Fay', true)",
    ].join(', '));
    await wh.insert(SUPPRESSIONS, [{ recipient: '+12015550113', reason: 'opted_out', source_event_id: null, created_at: new Date() }]);
    try {
      const result = await runJob({ loaded, wh, provider, senders: new SenderRegistry(), logger: silentLogger });
      expect(result.counts).toMatchObject({ accepted: 2, suppressed: 3, rejected: 1 });
    } finally {
      await provider.close();
    }

    const sends = await wh.query<{ row_key: string; send_id: string; recipient: string | null; status: string; reason: string | null; country: string | null; provider_message_id: string | null }>(
      'SELECT row_key, send_id, recipient, status, reason, country, provider_message_id FROM herald.sends WHERE job = $1 ORDER BY row_key', ['bsuid_e2e']);
    expect(sends.map((s) => [s.row_key, s.recipient, s.status, s.reason, s.country])).toEqual([
      ['r1', ANN, 'accepted', null, 'US'],
      ['r2', '+12015550110', 'accepted', null, 'US'],
      ['r3', '+12015550111', 'suppressed', 'opted_out', 'US'],
      ['r4', OPTED_OUT, 'suppressed', 'opted_out', 'US'],
      ['r5', null, 'rejected', 'invalid_user_id', null],
      ['r6', 'US.77700000000000000001', 'suppressed', 'opted_out', 'US'],
    ]);
    const r1 = sends[0]!;
    const bodies = fake.requests.filter((r) => r.method === 'POST').map((r) => r.body);
    expect(bodies).toHaveLength(2);
    expect(bodies).toContainEqual({
      messaging_product: 'whatsapp', recipient_type: 'individual', recipient: ANN, biz_opaque_callback_data: r1.send_id,
      type: 'template', template: { name: 'promo', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ann' }] }] },
    });
    expect(bodies).toContainEqual(expect.objectContaining({ to: '+12015550110' }));
    expect(bodies.every((b) => !('to' in (b as object) && 'recipient' in (b as object)))).toBe(true);

    // Meta then reports on the BSUID send by BSUID only, and Ann (phone withheld) replies.
    const later = String(Math.floor(Date.now() / 1000) + 60);
    await land(envelope([messagesChange({
      statuses: [{ id: r1.provider_message_id, status: 'delivered', timestamp: later, recipient_user_id: ANN, biz_opaque_callback_data: r1.send_id }],
    })]));
    await land(envelope([messagesChange({
      contacts: [{ profile: { name: 'Ann', username: '@ann' }, user_id: ANN }],
      messages: [{ from_user_id: ANN, id: 'wamid.reply', timestamp: later, type: 'text', text: { body: 'thanks!' } }],
    })]));
    expect(await wh.query('SELECT row_key, recipient, status, replied FROM herald.message_status WHERE send_id = $1', [r1.send_id]))
      .toEqual([{ row_key: 'r1', recipient: ANN, status: 'delivered', replied: true }]);
  });

  it('the sandbox sends to a BSUID and reports it by recipient_user_id', async () => {
    const sink = eventSink(() => wh);
    const provider = new SandboxProvider(SandboxConfigSchema.parse({ max_event_delay_ms: 5, permanent_failure_ratio: 0, transient_failure_ratio: 0 }), (events) => sink.land(events));
    const loaded = loadedJob('bsuid_sandbox', 'sandbox', `('s1', '${ANN}', NULL, 'Ann', true)`);
    const result = await runJob({ loaded, wh, provider, senders: new SenderRegistry(), logger: silentLogger });
    expect(result.counts).toMatchObject({ accepted: 1 });
    const [send] = await wh.query<{ provider_message_id: string }>("SELECT provider_message_id FROM herald.sends WHERE job = 'bsuid_sandbox'");
    const events = await wh.query<{ recipient: string; user_id: string; has_phone: boolean }>(
      "SELECT DISTINCT recipient, user_id, payload->>'recipient_id' IS NOT NULL AS has_phone FROM herald.events WHERE provider_message_id = $1", [send!.provider_message_id]);
    expect(events).toEqual([{ recipient: ANN, user_id: ANN, has_phone: false }]);
  });
});
