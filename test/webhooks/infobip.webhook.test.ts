/** Infobip's webhook side without a server: auth, and each report and subscription event. */
import { describe, expect, it } from 'vitest';
import { InfobipConfigSchema } from '../../src/config/runtime.schema.js';
import { consentRules } from '../../src/consent/rules.js';
import { INFOBIP_EVENTS, infobipKind, infobipWebhook, parseInfobipWebhook } from '../../src/providers/infobip/infobip.webhook.js';
import { basic, fixture, INFOBIP_SECRET } from './support.js';

const rules = consentRules();
const at = new Date('2026-01-01T00:00:00Z');
const parse = (body: unknown, kind?: string) => parseInfobipWebhook(body, at, rules, infobipKind(kind));

describe('infobip webhook auth', () => {
  const raw = Buffer.from('{}');
  const req = (headers: Record<string, string>, query = '') => ({ headers, query: new URLSearchParams(query), raw });
  it('Basic auth: the password is the secret; the user is checked when configured', () => {
    const a = infobipWebhook(InfobipConfigSchema.parse({ webhook_secret: INFOBIP_SECRET }), rules);
    expect(a.authenticate(req({ authorization: basic('anyone', INFOBIP_SECRET) }))).toBeNull();
    expect(a.authenticate(req({ authorization: basic('anyone', 'wrong') }))).toMatch(/wrong Basic/);
    expect(a.authenticate(req({}))).toMatch(/no Basic/);
    const withUser = infobipWebhook(InfobipConfigSchema.parse({ webhook_secret: INFOBIP_SECRET, webhook_user: 'herald' }), rules);
    expect(withUser.authenticate(req({ authorization: basic('herald', INFOBIP_SECRET) }))).toBeNull();
    expect(withUser.authenticate(req({ authorization: basic('other', INFOBIP_SECRET) }))).toMatch(/wrong Basic/);
  });
  it('a header secret, and no secret configured refuses everything', () => {
    const a = infobipWebhook(InfobipConfigSchema.parse({ webhook_secret: INFOBIP_SECRET, webhook_auth: 'header', webhook_header: 'X-Infobip-Secret' }), rules);
    expect(a.authenticate(req({ 'x-infobip-secret': INFOBIP_SECRET }))).toBeNull();
    expect(a.authenticate(req({ 'x-infobip-secret': `${INFOBIP_SECRET}x` }))).toMatch(/wrong/);
    expect(infobipWebhook(InfobipConfigSchema.parse({}), rules).authenticate(req({ authorization: basic('a', '') }))).toMatch(/INFOBIP_WEBHOOK_SECRET/);
  });
});

describe('parseInfobipWebhook', () => {
  it('the delivery report fixture: delivered, with the offset written without a colon', () => {
    const { events, unknown } = parse(JSON.parse(fixture('infobip/delivery-report.json')));
    expect(unknown).toEqual([]);
    expect(events).toMatchObject([{
      event_type: 'delivered', provider_message_id: 'fb469d73-d362-463f-b30f-1e959b53badc', recipient: '+41793026731',
      occurred_at: new Date('2019-04-09T19:01:56.494Z'), error_code: null,
      // herald sets messageId to the send id, and the report carries no callbackData.
      send_id: 'fb469d73-d362-463f-b30f-1e959b53badc',
    }]);
  });

  it('send_id: herald\'s callbackData when a report carries it, else the messageId; none on inbound', () => {
    const report = JSON.parse(fixture('infobip/delivery-report.json')) as { results: Record<string, unknown>[] };
    report.results[0]!.callbackData = '{"send_id":"5f0c1d2e3a4b5c6d7e8f9a0b1c2d3e4f","data":"campaign 7"}';
    expect(parse(report).events).toMatchObject([{ event_type: 'delivered', send_id: '5f0c1d2e3a4b5c6d7e8f9a0b1c2d3e4f' }]);
    report.results[0]!.callbackData = 'someone else\'s data';
    expect(parse(report).events).toMatchObject([{ send_id: 'fb469d73-d362-463f-b30f-1e959b53badc' }]);
    const seen = parse({ results: [{ messageId: 'm1', from: '41793026731', to: '385919998888', sentAt: '2026-01-01T10:00:00.000+0000', seenAt: '2026-01-01T10:05:00.000+0000' }] });
    expect(seen.events).toMatchObject([{ event_type: 'read', send_id: 'm1' }]);
    expect(parse(JSON.parse(fixture('infobip/inbound-text.json'))).events[0]!.send_id ?? null).toBeNull();
  });

  it('failed reports carry the error; pending is sent', () => {
    const { events } = parse({ results: [
      { messageId: 'm1', to: '41793026731', doneAt: '2026-01-01T10:00:00.000+0000', status: { groupId: 2, groupName: 'UNDELIVERABLE', id: 9, name: 'UNDELIVERABLE_NOT_DELIVERED', description: 'Message sent not delivered' },
        error: { id: 27, name: 'EC_ABSENT_SUBSCRIBER', description: 'Absent Subscriber', groupId: 1, groupName: 'HANDSET_ERRORS', permanent: false } },
      { messageId: 'm2', to: '41793026732', doneAt: '2026-01-01T10:00:00.000+00:00', status: { groupId: 1, groupName: 'PENDING', id: 7, name: 'PENDING_ENROUTE' } },
      { messageId: 'm3', to: '41793026733', doneAt: '2026-01-01T10:00:00Z', status: { groupId: 5, groupName: 'REJECTED', id: 12, name: 'REJECTED_NOT_ENOUGH_CREDITS', description: 'Not enough credits' },
        error: { id: 0, name: 'NO_ERROR', groupId: 0, groupName: 'OK' } },
    ] });
    expect(events.map((e) => [e.event_type, e.error_code, e.error_detail])).toEqual([
      ['failed', 'EC_ABSENT_SUBSCRIBER', 'Absent Subscriber'], ['sent', null, null], ['failed', 'REJECTED_NOT_ENOUGH_CREDITS', 'Not enough credits'],
    ]);
  });

  it('seen, inbound (fixture), click and a STOP reply', () => {
    const seen = parse({ results: [{ messageId: 'm1', from: '41793026731', to: '385919998888', sentAt: '2026-01-01T10:00:00.000+0000', seenAt: '2026-01-01T10:05:00.000+0000' }] });
    expect(seen.events).toMatchObject([{ event_type: 'read', provider_message_id: 'm1', occurred_at: new Date('2026-01-01T10:05:00Z') }]);
    const inbound = parse(JSON.parse(fixture('infobip/inbound-text.json')));
    expect(inbound.events).toMatchObject([{ event_type: 'inbound', recipient: '+385919998888', provider_message_id: 'ABEGOFl3VCQoAhBalbc6rTQT6mgS29EmGZ7a' }]);
    const click = parse({ notificationType: 'CLICKED', recipient: '41793026731', url: 'https://example.com/c/1', sendDateTime: 1767261600000, messageId: 'm1' }, 'click');
    expect(click.events).toMatchObject([{ event_type: 'clicked', provider_message_id: 'm1', recipient: '+41793026731', error_detail: 'https://example.com/c/1' }]);
    const stop = parse({ results: [{ from: '385919998888', to: '1234', integrationType: 'WHATSAPP', receivedAt: '2026-01-01T10:00:00.000+0000', messageId: 'in2', message: { type: 'TEXT', text: 'Stop' } }] });
    expect(stop.events.map((e) => `${e.event_type} ${e.recipient}`)).toEqual(['inbound +385919998888', 'opted_out +385919998888']);
    const button = parse({ results: [{ from: '385919998888', to: '1234', receivedAt: '2026-01-01T10:00:00.000+0000', messageId: 'in3', message: { type: 'BUTTON', text: 'No thanks', payload: 'UNSUBSCRIBE' } }] });
    expect(button.events.map((e) => `${e.event_type} ${e.error_detail ?? ''}`)).toEqual(['inbound ', 'opted_out quick_reply']);
  });

  it('every subscription event is accepted by its path, and recognised by shape where it has one', () => {
    for (const name of INFOBIP_EVENTS) expect(infobipKind(name.toLowerCase().replace(/_/g, '-'))).toBe(name);
    const registration = { businessAccountId: 'WABA1', status: 'FINISHED', createdAt: '2026-01-01T10:00:00.000+0000', lastModifiedAt: '2026-01-01T10:05:00.000+0000',
      senders: [{ phoneNumberId: '1', displayPhoneNumber: '+1 555 0100', type: 'CLOUD', status: 'CONNECTED' }, { phoneNumberId: '2', displayPhoneNumber: '+1 555 0101', type: 'CLOUD', status: 'PENDING' }] };
    expect(parse(registration).events).toMatchObject([{ event_type: 'account', error_detail: 'ACCOUNT_REGISTRATION FINISHED', payload: { senders: [{ phoneNumberId: '1' }, { phoneNumberId: '2' }] } }]);
    const template = { messageTemplateId: 42, messageTemplateName: 'welcome_back', messageTemplateLanguage: 'ja', timestamp: '2026-01-01T10:00:00.000+0000', change: { type: 'STATUS', newStatus: 'APPROVED', reason: 'NONE' } };
    expect(parse({ results: [template] }).events).toMatchObject([{ event_type: 'template', error_detail: 'TEMPLATE_UPDATE welcome_back APPROVED NONE' }]);
    expect(parse({ results: [{ amount: 1 }] }, 'billing').events).toMatchObject([{ event_type: 'billing' }]);
    expect(parse({ results: [{ status: 'PAID' }] }, 'PAYMENT_STATUS').events).toMatchObject([{ event_type: 'billing' }]);
    expect(parse({ results: [{ status: 'RESTRICTED' }] }, 'account-update-notification').events).toMatchObject([{ event_type: 'account' }]);
    expect(parse({ results: [{ from: '385919998888', timestamp: '2026-01-01T10:00:00Z' }] }, 'identity-change').events).toMatchObject([{ event_type: 'account', recipient: '+385919998888' }]);
    expect(parse({ event: 'TEMPLATE_UPDATE', messageTemplateName: 'x' }).events).toMatchObject([{ event_type: 'template' }]);
  });

  it('MARKETING_SUBSCRIPTION_UPDATE: opt-out and opt-in; an unreadable one lands as other', () => {
    const { events, unknown } = parse({ results: [
      { from: '385919998888', status: 'STOP', timestamp: '2026-01-01T10:00:00Z' },
      { from: '385919998889', status: 'RESUME', timestamp: '2026-01-01T10:00:00Z' },
      { from: '385919998890', status: 'SOMETHING_ELSE' },
    ] }, 'marketing-subscription-update');
    expect(events.map((e) => `${e.event_type} ${e.recipient ?? ''}`)).toEqual(['opted_out +385919998888', 'opted_in +385919998889', 'other ']);
    expect(unknown).toEqual(['MARKETING_SUBSCRIPTION_UPDATE event of unknown shape']);
  });

  it('unknown results land as other, raw', () => {
    const { events, unknown } = parse({ results: [{ foo: 1 }, 'text'] });
    expect(events.map((e) => [e.event_type, e.payload])).toEqual([['other', { foo: 1 }], ['other', 'text']]);
    expect(unknown).toHaveLength(2);
  });
});
