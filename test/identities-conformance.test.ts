/**
 * herald.identities and suppressions across identities, the same suite on DuckDB and PostgreSQL:
 * webhook bodies in Meta's 2026 shapes (test/fixtures/meta/bsuid/) go through the real landing
 * path, and the suppression lookup decide() uses answers for phones and BSUIDs alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentRules } from '../src/consent/rules.js';
import { landEvents } from '../src/events/event.js';
import { parseMetaWebhook } from '../src/providers/meta/meta.webhook.js';
import { findSuppressed, suppressionLookup } from '../src/store/sends.store.js';
import { SUPPRESSIONS } from '../src/warehouse/tables.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { ENGINES } from './helpers/engines.js';
import { fixture } from './support/fixtures.js';
import { envelope, messagesChange, WABA_ID } from './webhooks/support.js';


const SHEENA = 'US.13491208655302741918';
const PARENT = 'US.ENT.11815799212886844830';
type Body = Record<string, unknown>;

/** A delivered status that shows phone ↔ BSUID (the doc's sample shape, with these ids and time). */
function delivered(wamid: string, phone: string, userId: string, seconds: number, username?: string, parent?: string): Body {
  return envelope([messagesChange({
    contacts: [{ profile: { name: 'X', ...(username ? { username } : {}) }, wa_id: phone, user_id: userId, ...(parent ? { parent_user_id: parent } : {}) }],
    statuses: [{ id: wamid, status: 'delivered', timestamp: String(seconds), recipient_id: phone, recipient_user_id: userId, ...(parent ? { recipient_parent_user_id: parent } : {}) }],
  })]);
}

/** A text from a username-only user (phone withheld). */
function fromUsernameOnly(wamid: string, userId: string, text: string, seconds: number): Body {
  return envelope([messagesChange({
    contacts: [{ profile: { name: 'X', username: '@x' }, user_id: userId }],
    messages: [{ from_user_id: userId, id: wamid, timestamp: String(seconds), type: 'text', text: { body: text } }],
  })]);
}

describe.each(ENGINES)('identities on $name', (engine) => {
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ wh, cleanup } = await engine.open()));
  afterAll(async () => {
    await wh.close();
    await cleanup();
  });

  const land = (body: unknown) => landEvents(wh, parseMetaWebhook(body, new Date('2026-05-10T00:00:00Z'), consentRules()).events);
  const identities = (userIds: string[]) => wh.query<Record<string, unknown>>(
    'SELECT identity_id, provider, account, phone, user_id, parent_user_id, username, first_seen, last_seen FROM herald.identities ' +
    'WHERE user_id IN (SELECT unnest($1::text[])) ORDER BY user_id, phone, account', [userIds]);
  const time = (seconds: number) => new Date(seconds * 1000);

  it('lands each phone ↔ BSUID pair once, however often it is redelivered', async () => {
    const body = fixture<Body>('meta/bsuid/status-delivered-with-contact.json');
    await land(body);
    await land(body);
    await land(fixture<Body>('meta/bsuid/inbound-username-only.json'));
    const rows = await identities([SHEENA]);
    expect(rows.map(({ identity_id: _, ...r }) => r)).toEqual([
      { provider: 'meta', account: WABA_ID, phone: '+12015550123', user_id: SHEENA, parent_user_id: PARENT, username: '@pablo', first_seen: time(1750030073), last_seen: time(1750030073) },
      { provider: 'meta', account: WABA_ID, phone: null, user_id: SHEENA, parent_user_id: PARENT, username: '@sheena', first_seen: time(1749416383), last_seen: time(1749416383) },
    ]);
    expect(new Set(rows.map((r) => r.identity_id)).size).toBe(2);
  });

  it('a later sighting bumps last_seen and the username; an older redelivery moves only first_seen back', async () => {
    const user = 'US.700000000000000001';
    await land(delivered('wamid.i1', '12015550101', user, 1_750_000_100, '@old'));
    const [first] = await identities([user]);
    await land(delivered('wamid.i2', '12015550101', user, 1_750_000_200, '@new'));
    await land(delivered('wamid.i0', '12015550101', user, 1_750_000_050, '@older'));
    const rows = await identities([user]);
    expect(rows).toEqual([{ ...first, username: '@new', first_seen: time(1_750_000_050), last_seen: time(1_750_000_200) }]);
  });

  it('the same pair through another WABA is another row; a changed number adds the new pair', async () => {
    const user = 'US.700000000000000002';
    const other = delivered('wamid.j1', '12015550102', user, 1_750_000_300);
    (other.entry as { id: string }[])[0]!.id = '999000111222333';
    await land(delivered('wamid.j0', '12015550102', user, 1_750_000_300));
    await land(other);
    const newUser = 'US.700000000000000003';
    await land(envelope([messagesChange({ messages: [{ from: '12015550102', from_user_id: user, id: 'wamid.j2', timestamp: '1750000400', type: 'system',
      system: { body: 'User changed', wa_id: '12015550103', user_id: newUser, type: 'user_changed_number' } }] })]));
    expect((await identities([user, newUser])).map((r) => [r.account, r.phone, r.user_id, (r.last_seen as Date).getTime() / 1000])).toEqual([
      [WABA_ID, '+12015550102', user, 1_750_000_400],
      ['999000111222333', '+12015550102', user, 1_750_000_300],
      [WABA_ID, '+12015550103', newUser, 1_750_000_400],
    ]);
  });

  it('user_id_update adds the current BSUID with the phone', async () => {
    await land(fixture<Body>('meta/bsuid/user-id-update.json'));
    expect((await identities(['US.24817305912873645029'])).map((r) => [r.phone, r.parent_user_id, (r.first_seen as Date).getTime() / 1000]))
      .toEqual([['+12015550123', 'US.ENT.22815799212886844830', 1700000003]]);
  });

  it('a STOP from a username-only user suppresses the BSUID, and through the pair, the phone', async () => {
    const user = 'US.700000000000000004';
    await land(fromUsernameOnly('wamid.k1', user, 'STOP', 1_750_000_500));
    expect(await wh.query('SELECT recipient, reason FROM herald.suppressions WHERE recipient = $1', [user])).toEqual([{ recipient: user, reason: 'opted_out:keyword' }]);
    // Not yet known to be anyone's phone.
    expect(await findSuppressed(wh, ['+12015550104'])).toEqual(new Map());
    await land(delivered('wamid.k2', '12015550104', user, 1_750_000_400));
    expect(await findSuppressed(wh, ['+12015550104', user, '+12015550105'])).toEqual(new Map([
      ['+12015550104', `opted_out:keyword (as ${user})`],
      [user, 'opted_out:keyword'],
    ]));
    // START from the same user lifts it for both.
    await land(fromUsernameOnly('wamid.k3', user, 'START', 1_750_000_600));
    expect(await findSuppressed(wh, ['+12015550104', user])).toEqual(new Map());
  });

  it('user_preferences stop by BSUID suppresses it; a phone\'s opt-out holds a row given as its BSUID', async () => {
    await land(fixture<Body>('meta/bsuid/user-preferences-stop-bsuid.json'));
    expect((await findSuppressed(wh, [SHEENA])).get(SHEENA)).toBe('opted_out:marketing_preference');
    const user = 'US.700000000000000006';
    await land(delivered('wamid.m1', '12015550106', user, 1_750_000_700));
    await land(envelope([messagesChange({ messages: [{ from: '12015550106', id: 'wamid.m2', timestamp: '1750000800', type: 'text', text: { body: 'stop' } }] })]));
    expect(await findSuppressed(wh, [user])).toEqual(new Map([[user, 'opted_out:keyword (as +12015550106)']]));
  });

  it('a phone whose pair has a suppressed parent BSUID is suppressed', async () => {
    const parent = 'US.ENT.700000000000000007';
    await land(delivered('wamid.n1', '12015550107', 'US.700000000000000007', 1_750_000_900, undefined, parent));
    await wh.insert(SUPPRESSIONS, [{ recipient: parent, reason: 'manual', source_event_id: null, created_at: new Date() }], { ignoreDuplicates: true });
    expect(await findSuppressed(wh, ['+12015550107', 'US.700000000000000007', parent])).toEqual(new Map([
      ['+12015550107', `manual (as ${parent})`], ['US.700000000000000007', `manual (as ${parent})`], [parent, 'manual'],
    ]));
  });

  it('the lookup decide() uses skips while suppressions are empty, and sees identities once they are not', async () => {
    await wh.query('DELETE FROM herald.suppressions');
    const lookup = suppressionLookup(wh);
    expect(await lookup(['+12015550107'])).toEqual(new Map());
    const fresh = suppressionLookup(wh);
    await land(fromUsernameOnly('wamid.p1', 'US.700000000000000007', 'STOP', 1_750_001_000));
    expect(await fresh(['+12015550107'])).toEqual(new Map([['+12015550107', 'opted_out:keyword (as US.700000000000000007)']]));
  });
});
