/**
 * Meta's 2026 identity fields (docs/providers/meta-2026.md §1) as herald events: BSUIDs, usernames,
 * phones that may be missing, number / user id changes. Fixtures: test/fixtures/meta/bsuid/.
 */
import { describe, expect, it } from 'vitest';
import { consentRules } from '../../src/consent/rules.js';
import { parseMetaWebhook } from '../../src/providers/meta/meta.webhook.js';
import { envelope, fixture, messagesChange, WABA_ID } from './support.js';

const at = new Date('2026-05-10T00:00:00Z');
const parse = (body: unknown) => parseMetaWebhook(body, at, consentRules());
const load = (name: string) => JSON.parse(fixture(`meta/bsuid/${name}.json`)) as Record<string, unknown>;
const SHEENA = 'US.13491208655302741918';
const NEW_ID = 'US.24817305912873645029';
const PARENT = 'US.ENT.11815799212886844830';

describe('Meta webhooks with business-scoped user ids', () => {
  it('an inbound message with the phone withheld lands with the BSUID as its recipient, and the pair with parent and username', () => {
    const { events, unknown } = parse(load('inbound-username-only'));
    expect(unknown).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      event_type: 'inbound', provider_message_id: 'wamid.X', recipient: SHEENA, user_id: SHEENA, account: WABA_ID,
      identities: [{ phone: null, user_id: SHEENA, parent_user_id: PARENT, username: '@sheena' }],
    });
  });

  it('STOP from a username-only user is an opt-out of the BSUID', () => {
    const body = load('inbound-username-only') as { entry: { changes: { value: { messages: { text: { body: string } }[] } }[] }[] };
    body.entry[0]!.changes[0]!.value.messages[0]!.text.body = 'STOP';
    const { events } = parse(body);
    expect(events.map((e) => [e.event_type, e.recipient, e.user_id])).toEqual([['inbound', SHEENA, SHEENA], ['opted_out', SHEENA, SHEENA]]);
  });

  it('when the phone comes too, the recipient stays the E.164 number and the pair has both', () => {
    const body = envelope([messagesChange({
      contacts: [{ profile: { name: 'Sheena N.', username: '@sheena' }, wa_id: '12015550123', user_id: SHEENA }],
      messages: [{ from: '12015550123', from_user_id: SHEENA, id: 'wamid.Y', timestamp: '1749416383', type: 'text', text: { body: 'hi' } }],
    })]);
    expect(parse(body).events[0]).toMatchObject({
      recipient: '+12015550123', user_id: SHEENA, identities: [{ phone: '+12015550123', user_id: SHEENA, parent_user_id: null, username: '@sheena' }],
    });
  });

  it('a delivered status carries the BSUID, the parent and the contact\'s username', () => {
    const { events, unknown } = parse(load('status-delivered-with-contact'));
    expect(unknown).toEqual([]);
    expect(events).toMatchObject([{
      event_type: 'delivered', provider_message_id: 'wamid.X', recipient: '+12015550123', user_id: SHEENA, account: WABA_ID,
      pricing_category: 'marketing', billable: true, pricing_model: 'PMP', pricing_type: 'regular',
      identities: [{ phone: '+12015550123', user_id: SHEENA, parent_user_id: PARENT, username: '@pablo' }],
    }]);
  });

  it('a status of a send to a BSUID without a phone lands with the BSUID as recipient; a failed one to a phone has no pair', () => {
    const { events } = parse(envelope([messagesChange({ statuses: [
      { id: 'wamid.A', status: 'sent', timestamp: '1750030073', recipient_user_id: SHEENA },
      { id: 'wamid.B', status: 'failed', timestamp: '1750030074', recipient_id: '12015550124', errors: [{ code: 131026, title: 'Message undeliverable' }] },
    ] })]));
    expect(events.map((e) => [e.event_type, e.recipient, e.user_id, e.identities])).toEqual([
      ['sent', SHEENA, SHEENA, [{ phone: null, user_id: SHEENA, parent_user_id: null, username: null }]],
      ['failed', '+12015550124', null, []],
    ]);
  });

  it('131050 on a status of a BSUID send suppresses the BSUID', () => {
    const { events } = parse(envelope([messagesChange({ statuses: [
      { id: 'wamid.C', status: 'failed', timestamp: '1750030075', recipient_user_id: SHEENA, errors: [{ code: 131050, title: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages' }] },
    ] })]));
    expect(events.map((e) => [e.event_type, e.recipient])).toEqual([['failed', SHEENA], ['opted_out', SHEENA]]);
  });

  it('user_changed_user_id is an identity event that adds the new pair (new phone, new BSUID, new parent)', () => {
    const { events, unknown } = parse(load('system-user-changed-user-id'));
    expect(unknown).toEqual([]);
    expect(events).toMatchObject([{
      event_type: 'identity', error_detail: 'user_changed_user_id', recipient: '+12015550123', account: WABA_ID,
      identities: [{ phone: '+12015550199', user_id: NEW_ID, parent_user_id: PARENT, username: null }],
    }]);
  });

  it('user_changed_number without the new phone adds the new BSUID alone; without a BSUID it adds nothing', () => {
    const msg = (system: Record<string, unknown>) => envelope([messagesChange({ messages: [{ from: '12015550123', id: `wamid.${String(system.type)}.${String(system.user_id)}`, timestamp: '1739321024', type: 'system', system }] })]);
    expect(parse(msg({ body: 'changed', user_id: NEW_ID, type: 'user_changed_number' })).events[0]).toMatchObject({
      event_type: 'identity', identities: [{ phone: null, user_id: NEW_ID }],
    });
    expect(parse(msg({ body: 'changed', wa_id: '12015550199', type: 'user_changed_number' })).events[0]).toMatchObject({ event_type: 'identity', identities: [] });
  });

  it('user_id_update lands an identity event with the current ids and the phone', () => {
    const { events, unknown } = parse(load('user-id-update'));
    expect(unknown).toEqual([]);
    expect(events).toMatchObject([{
      event_type: 'identity', recipient: '+12015550123', user_id: NEW_ID, error_detail: 'User id for A has been updated.', account: WABA_ID,
      occurred_at: new Date(1700000003 * 1000),
      identities: [{ phone: '+12015550123', user_id: NEW_ID, parent_user_id: 'US.ENT.22815799212886844830', username: null }],
    }]);
  });

  it('a user_id_update without a current id is kept as other', () => {
    const { events, unknown } = parse(envelope([{ field: 'user_id_update', value: { user_id_update: [{ wa_id: '12015550123', detail: 'x' }] } }]));
    expect(events.map((e) => e.event_type)).toEqual(['other']);
    expect(unknown).toEqual(['user_id_update without a current user_id']);
  });

  it('user_preferences stop without wa_id is an opt-out keyed by the BSUID', () => {
    const { events, unknown } = parse(load('user-preferences-stop-bsuid'));
    expect(unknown).toEqual([]);
    expect(events).toMatchObject([{
      event_type: 'opted_out', recipient: SHEENA, user_id: SHEENA, error_detail: 'marketing_preference', account: WABA_ID,
      identities: [{ phone: null, user_id: SHEENA, parent_user_id: PARENT }],
    }]);
  });

  it('a contact no status or message names is still landed, on the change\'s first event or as other', () => {
    const contact = { profile: { name: 'B', username: '@b' }, wa_id: '12015550125', user_id: 'US.555' };
    const withStatus = parse(envelope([messagesChange({ contacts: [contact], statuses: [{ id: 'wamid.D', status: 'sent', timestamp: '1', recipient_id: '12015550126' }] })]));
    expect(withStatus.events[0]!.identities).toEqual([{ phone: '+12015550125', user_id: 'US.555', parent_user_id: null, username: '@b' }]);
    const alone = parse(envelope([messagesChange({ contacts: [contact] })]));
    expect(alone.events).toMatchObject([{ event_type: 'other', identities: [{ user_id: 'US.555' }] }]);
  });

  it('a malformed BSUID is not taken as one: the phone stays the recipient and no pair is made', () => {
    const { events } = parse(envelope([messagesChange({
      messages: [{ from: '12015550127', from_user_id: 'not a bsuid', id: 'wamid.E', timestamp: '1', type: 'text', text: { body: 'hi' } }],
    })]));
    expect(events[0]).toMatchObject({ recipient: '+12015550127', user_id: null, identities: [] });
  });
});
