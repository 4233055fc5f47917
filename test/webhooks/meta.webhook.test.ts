/** Meta's webhook side without a server: signature, handshake, and every event of a body. */
import { describe, expect, it } from 'vitest';
import { consentRules } from '../../src/consent/rules.js';
import { metaVerification, metaWebhook, parseMetaWebhook, verifyMetaSignature } from '../../src/providers/meta/meta.webhook.js';
import { APP_SECRET, buttonReply, envelope, fixture, inboundText, messagesChange, signature, status } from './support.js';

const rules = consentRules();
const at = new Date('2026-01-01T00:00:00Z');
const parse = (body: unknown) => parseMetaWebhook(body, at, rules);

describe('X-Hub-Signature-256', () => {
  // Meta escapes `/` and non-ASCII in its bodies; re-serialized JSON would not match the signature.
  const raw = Buffer.from('{"entry":[{"changes":[{"value":{"messages":[{"text":{"body":"caf\\u00e9 \\/ 東京 a@b.jp"}}]}}]}]}', 'utf8');

  it('holds over the raw bytes, not over re-serialized JSON', () => {
    expect(verifyMetaSignature(raw, signature(raw), APP_SECRET)).toBe(true);
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))));
    expect(reserialized.equals(raw)).toBe(false);
    expect(verifyMetaSignature(raw, signature(reserialized), APP_SECRET)).toBe(false);
  });

  it('refuses a missing, malformed, truncated or other-secret signature', () => {
    expect(verifyMetaSignature(raw, undefined, APP_SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, 'sha1=abc', APP_SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, signature(raw).slice(0, 40), APP_SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, signature(raw, 'other'), APP_SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, signature(raw).toUpperCase().replace('SHA256=', 'sha256='), APP_SECRET)).toBe(true);
  });

  it('the adapter says why it refuses, and refuses everything without an app secret', () => {
    const req = (headers: Record<string, string>) => ({ headers, query: new URLSearchParams(), raw });
    expect(metaWebhook({ app_secret: APP_SECRET }, rules).authenticate(req({ 'x-hub-signature-256': signature(raw) }))).toBeNull();
    expect(metaWebhook({ app_secret: APP_SECRET }, rules).authenticate(req({}))).toMatch(/no X-Hub-Signature-256/);
    expect(metaWebhook({}, rules).authenticate(req({ 'x-hub-signature-256': signature(raw) }))).toMatch(/META_APP_SECRET/);
  });
});

describe('verification handshake', () => {
  const q = (mode: string, token: string) => new URLSearchParams({ 'hub.mode': mode, 'hub.verify_token': token, 'hub.challenge': '1158201444' });
  it('echoes the challenge for the right token, 403 otherwise', () => {
    expect(metaVerification(q('subscribe', 'tok'), 'tok')).toEqual({ status: 200, body: '1158201444' });
    expect(metaVerification(q('subscribe', 'nope'), 'tok').status).toBe(403);
    expect(metaVerification(q('unsubscribe', 'tok'), 'tok').status).toBe(403);
    expect(metaVerification(q('subscribe', ''), undefined).status).toBe(403);
  });
});

describe('parseMetaWebhook', () => {
  it('maps the fixtures: sent with pricing, failed with its error, inbound text', () => {
    const sent = parse(JSON.parse(fixture('meta/status-sent.json')));
    expect(sent.events).toMatchObject([{ event_type: 'sent', recipient: '+16505551234', pricing_category: 'marketing', occurred_at: new Date(1750030073 * 1000) }]);
    const failed = parse(JSON.parse(fixture('meta/status-failed.json')));
    expect(failed.events).toMatchObject([{ event_type: 'failed', error_code: '131049', error_detail: expect.stringContaining('healthy ecosystem') }]);
    const inbound = parse(JSON.parse(fixture('meta/inbound-text.json')));
    expect(inbound.events).toMatchObject([{ event_type: 'inbound', provider_message_id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=', recipient: '+16505551234' }]);
    expect([sent, failed, inbound].every((p) => p.unknown.length === 0)).toBe(true);
  });

  it('send_id: the biz_opaque_callback_data Meta echoes on a status; none on the fixtures without it or on inbound', () => {
    const body = JSON.parse(fixture('meta/status-sent.json')) as { entry: { changes: { value: { statuses: Record<string, unknown>[] } }[] }[] };
    body.entry[0]!.changes[0]!.value.statuses[0]!.biz_opaque_callback_data = '5f0c1d2e3a4b5c6d7e8f9a0b1c2d3e4f';
    expect(parse(body).events).toMatchObject([{ event_type: 'sent', send_id: '5f0c1d2e3a4b5c6d7e8f9a0b1c2d3e4f' }]);
    expect(parse(JSON.parse(fixture('meta/status-sent.json'))).events[0]!.send_id).toBeNull();
    expect(parse(JSON.parse(fixture('meta/status-failed.json'))).events[0]!.send_id).toBeNull();
    expect(parse(JSON.parse(fixture('meta/inbound-text.json'))).events[0]!.send_id ?? null).toBeNull();
  });

  it('keeps every status and message of every change of every entry', () => {
    const body = envelope(
      [messagesChange({ statuses: [status({ id: 'w1', status: 'sent', timestamp: 1, recipient: '81900000001' }), status({ id: 'w2', status: 'read', timestamp: 2, recipient: '81900000002' })] }),
        messagesChange({ statuses: [status({ id: 'w3', status: 'delivered', timestamp: 3, recipient: '81900000003' })] })],
      [messagesChange({ messages: [inboundText('81900000004', 'in1', 'hello', 4)], statuses: [status({ id: 'w4', status: 'played', timestamp: 5, recipient: '81900000004' })] })],
    );
    const { events, unknown } = parse(body);
    expect(events.map((e) => `${e.event_type}:${e.provider_message_id}`)).toEqual(['sent:w1', 'read:w2', 'delivered:w3', 'read:w4', 'inbound:in1']);
    expect(unknown).toEqual([]);
    // Deterministic ids: the same body gives the same ids.
    expect(parse(body).events.map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    expect(new Set(events.map((e) => e.event_id)).size).toBe(5);
  });

  it('a 1,000-status POST (Meta\'s maximum) over 10 entries gives 1,000 events', () => {
    const entries = Array.from({ length: 10 }, (_, e) => [messagesChange({
      statuses: Array.from({ length: 100 }, (_, i) => status({ id: `wamid.${e}.${i}`, status: 'delivered', timestamp: 1_767_225_600, recipient: '819000000001' })),
    })]);
    const { events } = parse(envelope(...entries));
    expect(events).toHaveLength(1000);
    expect(new Set(events.map((e) => e.event_id)).size).toBe(1000);
  });

  it('lands unknown statuses, fields and shapes as other, and says so', () => {
    const body = envelope([
      messagesChange({ statuses: [status({ id: 'w1', status: 'warning', timestamp: 1, recipient: '1' })] }),
      { field: 'some_future_field', value: { x: 1 } },
      messagesChange({ calls: [{ id: 'c1' }] }),
      { field: 'messages' },
    ]);
    const { events, unknown } = parse(body);
    expect(events.map((e) => e.event_type)).toEqual(['other', 'other', 'other', 'other']);
    expect(unknown).toEqual(['status warning', 'change field some_future_field', 'messages value with calls', 'change without value (field messages)']);
    expect(parse({ hello: 'world' }).events).toMatchObject([{ event_type: 'other', payload: { hello: 'world' } }]);
  });

  it('template and account changes are events of their own kind', () => {
    const { events } = parse(envelope([
      { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 1, message_template_name: 'welcome_back', message_template_language: 'ja' } },
      { field: 'account_update', value: { phone_number: '15550783881', event: 'VERIFIED_ACCOUNT' } },
    ]));
    expect(events.map((e) => [e.event_type, e.error_detail])).toEqual([['template', 'APPROVED'], ['account', 'VERIFIED_ACCOUNT']]);
  });

  it('the 2026 template and number webhooks land with their payload (shapes: docs/providers/meta-2026.md §3)', () => {
    const { events, unknown } = parse(envelope([
      { field: 'template_category_update', value: { message_template_id: 1, message_template_name: 'spring_sale', message_template_language: 'en_US', previous_category: 'UTILITY', new_category: 'MARKETING' } },
      { field: 'message_template_quality_update', value: { previous_quality_score: 'GREEN', new_quality_score: 'YELLOW', message_template_id: 1, message_template_name: 'spring_sale', message_template_language: 'en_US' } },
      { field: 'phone_number_quality_update', value: { display_phone_number: '15550783881', event: 'THROUGHPUT_UPGRADE', current_limit: 'TIER_10K', max_daily_conversations_per_business: 10000 } },
    ]));
    expect(unknown).toEqual([]);
    expect(events.map((e) => [e.event_type, e.error_detail, (e.payload as { field: string }).field])).toEqual([
      ['template', 'spring_sale', 'template_category_update'],
      ['template', 'spring_sale', 'message_template_quality_update'],
      ['account', 'THROUGHPUT_UPGRADE', 'phone_number_quality_update'],
    ]);
  });

  it('STOP keywords, opt-out quick replies, 131050 and stopped marketing become opted_out; START and resume opted_in', () => {
    const { events } = parse(envelope([messagesChange({
      messages: [
        inboundText('81900000001', 'in1', '  stop ', 10),
        inboundText('81900000002', 'in2', '配信停止', 11),
        inboundText('81900000003', 'in3', 'please stop by the shop', 12),
        buttonReply('81900000004', 'in4', 'No more offers', 'OPT_OUT', 13),
        inboundText('81900000005', 'in5', 'ＳＴＡＲＴ', 14),
      ],
      statuses: [status({ id: 'w6', status: 'failed', timestamp: 15, recipient: '81900000006', errors: [{ code: 131050, title: 'User stopped marketing messages' }] })],
    }), {
      field: 'user_preferences',
      value: { messaging_product: 'whatsapp', user_preferences: [
        { wa_id: '81900000007', detail: 'User requested to stop marketing messages', category: 'marketing_messages', value: 'stop', timestamp: 16 },
        { wa_id: '81900000008', detail: 'User resumed', category: 'marketing_messages', value: 'resume', timestamp: 17 },
      ] },
    }]));
    const consent = events.filter((e) => e.event_type === 'opted_out' || e.event_type === 'opted_in').map((e) => `${e.event_type} ${e.recipient} ${e.error_detail}`);
    expect(consent).toEqual([
      'opted_out +81900000006 131050', 'opted_out +81900000001 keyword', 'opted_out +81900000002 keyword', 'opted_out +81900000004 quick_reply', 'opted_in +81900000005 keyword',
      'opted_out +81900000007 marketing_preference', 'opted_in +81900000008 marketing_preference',
    ]);
    expect(events.filter((e) => e.event_type === 'inbound')).toHaveLength(5);
  });
});
