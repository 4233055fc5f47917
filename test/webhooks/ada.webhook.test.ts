/** ADA's callbacks (eventType Message / Delivery / Read) and their shared secret. */
import { describe, expect, it } from 'vitest';
import { AdaConfigSchema } from '../../src/config/runtime.schema.js';
import { consentRules } from '../../src/consent/rules.js';
import { adaWebhook } from '../../src/providers/ada/ada.webhook.js';
import { ADA_SECRET } from './support.js';

const rules = consentRules();
const at = new Date('2026-01-01T00:00:00Z');

describe('ada callbacks', () => {
  const adapter = adaWebhook(AdaConfigSchema.parse({ webhook_secret: ADA_SECRET }), rules);
  const req = (headers: Record<string, string>, query = '') => ({ headers, query: new URLSearchParams(query), raw: Buffer.from('{}') });

  it('a header secret by default; query when configured', () => {
    expect(adapter.authenticate(req({ 'x-webhook-secret': ADA_SECRET }))).toBeNull();
    expect(adapter.authenticate(req({ 'x-webhook-secret': 'x' }))).toMatch(/wrong/);
    const byQuery = adaWebhook(AdaConfigSchema.parse({ webhook_secret: ADA_SECRET, webhook_auth: 'query' }), rules);
    expect(byQuery.authenticate(req({}, `secret=${ADA_SECRET}`))).toBeNull();
    expect(byQuery.authenticate(req({}))).toMatch(/no secret/);
  });

  it('Message, Delivery, Read and unknown event types', () => {
    const common = { platform: 'WA', accountNo: '60136951322' };
    const { events, unknown } = adapter.parse([
      { ...common, eventType: 'Delivery', messageId: 'a1', to: '6591234567', timestamp: '2026-01-01T10:00:00Z' },
      { ...common, eventType: 'Read', messageId: 'a1', to: '6591234567', timestamp: 1767261900 },
      { ...common, eventType: 'Delivery', messageId: 'a2', to: '6591234568', timestamp: 1767261900, status: 'FAILED', errorCode: '470' },
      { ...common, eventType: 'Message', messageId: 'in1', from: '6591234569', timestamp: 1767261900, text: 'BERHENTI' },
      { ...common, eventType: 'Typing' },
    ], at);
    expect(events.map((e) => `${e.event_type} ${e.provider_message_id} ${e.recipient} ${e.error_code ?? ''}`)).toEqual([
      'delivered a1 +6591234567 ', 'read a1 +6591234567 ', 'failed a2 +6591234568 470', 'inbound in1 +6591234569 ', 'opted_out in1 +6591234569 ', 'other null null ',
    ]);
    expect(unknown).toEqual(['eventType typing']);
  });
});
