/**
 * Meta's webhook side: the GET verification handshake, `X-Hub-Signature-256` over the raw bytes,
 * and every entry, change, status, message, user action and preference of a POST as herald events
 * (Meta batches up to 1,000 updates per POST; several SDKs keep only the first).
 *
 * Shapes: Meta's webhook references (messages, user_preferences, message_template_status_update,
 * account_update, marketing-messages click events) and whatsapp-api-js `src/types.ts`; the 2026
 * identity fields (BSUID `user_id`, usernames, phones that may be missing, `user_id_update`) per
 * docs/providers/meta-2026.md §1. Every phone ↔ BSUID pair seen rides on its event to
 * `herald.identities` (events/identities.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MetaConfig } from '../../config/runtime.schema.js';
import { consentEvent } from '../../consent/events.js';
import type { ConsentRules } from '../../consent/rules.js';
import { eventId, type EventType, type ProviderEvent } from '../../events/event.js';
import { digest, e164, isObject, list, parseTime, text, type Json } from '../../events/fields.js';
import type { IdentitySighting } from '../../events/identities.js';
import { bsuid } from '../../util/bsuid.js';
import { safeEqual } from '../../util/safe-equal.js';
import { otherEvent, type ParsedWebhook, type WebhookAdapter, type WebhookRequest } from '../../events/webhook.js';
import { META_OPTED_OUT_CODE } from './meta.errors.js';
import { metaStatusEvent, type MetaContact, type MetaStatus } from './meta.status.js';

/** `sha256=<hex>` = HMAC-SHA256(app secret, raw body), compared in constant time. */
export function verifyMetaSignature(raw: Buffer, header: string | string[] | undefined, appSecret: string): boolean {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^sha256=([0-9a-f]{64})$/i.exec(value?.trim() ?? '');
  if (!m) return false;
  const expected = createHmac('sha256', appSecret).update(raw).digest();
  const given = Buffer.from(m[1]!, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The GET handshake: the challenge back as text when mode and token match, else 403. */
export function metaVerification(query: URLSearchParams, verifyToken: string | undefined): { status: 200 | 403; body: string } {
  const token = query.get('hub.verify_token');
  const challenge = query.get('hub.challenge');
  const ok = verifyToken !== undefined && verifyToken !== '' && query.get('hub.mode') === 'subscribe'
    && token !== null && challenge !== null && safeEqual(token, verifyToken);
  return ok ? { status: 200, body: challenge } : { status: 403, body: 'verification failed' };
}

export function metaWebhook(config: Pick<MetaConfig, 'app_secret'>, rules: ConsentRules): WebhookAdapter {
  return {
    provider: 'meta',
    authenticate(req: WebhookRequest) {
      if (!config.app_secret) return 'META_APP_SECRET is not set: every webhook is refused';
      if (req.headers['x-hub-signature-256'] === undefined) return 'no X-Hub-Signature-256 header';
      return verifyMetaSignature(req.raw, req.headers['x-hub-signature-256'], config.app_secret) ? null : 'X-Hub-Signature-256 does not match the body';
    },
    parse: (body, receivedAt) => parseMetaWebhook(body, receivedAt, rules),
  };
}

/** Keys of a `messages` change value that herald reads; any other key lands the value as `other`. */
const MESSAGES_KEYS = new Set(['messaging_product', 'metadata', 'contacts', 'statuses', 'messages', 'errors', 'user_actions']);

const ACCOUNT_FIELDS = new Set(['account_update', 'account_alerts', 'account_review_update', 'account_settings_update', 'business_capability_update',
  'business_status_update', 'phone_number_name_update', 'phone_number_quality_update', 'security', 'partner_solutions']);

export function parseMetaWebhook(body: unknown, receivedAt: Date, rules: ConsentRules): ParsedWebhook {
  const out: ParsedWebhook = { events: [], unknown: [] };
  const other = (kind: string, payload: unknown, extra: Partial<ProviderEvent> = {}) => {
    out.unknown.push(kind);
    out.events.push(otherEvent('meta', kind, payload, receivedAt, extra));
  };
  if (!isObject(body) || !Array.isArray(body.entry)) {
    other('envelope without entry[]', body);
    return out;
  }
  for (const entry of body.entry) {
    const changes = isObject(entry) ? entry.changes : undefined;
    const first = out.events.length;
    if (!Array.isArray(changes)) {
      other('entry without changes[]', entry);
      continue;
    }
    for (const change of changes) {
      const field = isObject(change) ? text(change.field) : null;
      const value = isObject(change) ? change.value : undefined;
      if (!isObject(value)) other(`change without value (field ${field ?? '?'})`, change);
      else if (field === 'messages') messagesChange(value, receivedAt, rules, out, other);
      else if (field === 'user_preferences') preferencesChange(value, receivedAt, out, other);
      else if (field === 'user_id_update') userIdUpdateChange(value, receivedAt, out, other);
      else if (field !== null && /template/.test(field)) out.events.push(fieldEvent(field, 'template', value, receivedAt));
      else if (field !== null && ACCOUNT_FIELDS.has(field)) out.events.push(fieldEvent(field, 'account', value, receivedAt));
      else other(`change field ${field ?? '(none)'}`, change);
    }
    // The entry's id is the WABA: a BSUID is scoped to its portfolio, so identities keep it.
    const account = isObject(entry) ? text(entry.id) : null;
    for (const e of out.events.slice(first)) e.account ??= account;
  }
  return out;
}

/** `contacts[]`: `{ wa_id?, user_id?, parent_user_id?, profile: { name, username? } }`. */
function contactsOf(value: Json): MetaContact[] {
  return list(value.contacts).filter(isObject).map((c) => ({
    phone: e164(c.wa_id),
    user_id: bsuid(c.user_id),
    parent_user_id: bsuid(c.parent_user_id),
    username: isObject(c.profile) ? text(c.profile.username) : null,
  }));
}

/** The contact that is this phone or this BSUID (Meta gives one per user in the change). */
function contactFor(contacts: readonly MetaContact[], phone: string | null, userId: string | null, used: Set<MetaContact>): MetaContact | undefined {
  const c = contacts.find((x) => (phone !== null && x.phone === phone) || (userId !== null && x.user_id === userId));
  if (c) used.add(c);
  return c;
}

function sighting(c: MetaContact): IdentitySighting[] {
  return c.user_id === null ? [] : [{ phone: c.phone, user_id: c.user_id, parent_user_id: c.parent_user_id, username: c.username }];
}

type Other = (kind: string, payload: unknown, extra?: Partial<ProviderEvent>) => void;

function messagesChange(value: Json, receivedAt: Date, rules: ConsentRules, out: ParsedWebhook, other: Other): void {
  const first = out.events.length;
  const contacts = contactsOf(value);
  const used = new Set<MetaContact>();
  for (const status of list(value.statuses)) {
    if (!isObject(status) || text(status.id) === null || text(status.status) === null) {
      other('status without id or status', status);
      continue;
    }
    const contact = contactFor(contacts, e164(status.recipient_id), bsuid(status.recipient_user_id), used);
    const event = metaStatusEvent(status as unknown as MetaStatus, receivedAt, contact);
    if (event.event_type === 'other') out.unknown.push(`status ${String(status.status)}`);
    out.events.push(event);
    if (event.event_type === 'failed' && event.error_code === String(META_OPTED_OUT_CODE)) {
      out.events.push(consentEvent(event, 'opted_out', String(META_OPTED_OUT_CODE)));
    }
  }
  for (const message of list(value.messages)) {
    if (!isObject(message) || text(message.id) === null) {
      other('message without id', message);
      continue;
    }
    const event = inboundEvent(message, receivedAt, contactFor(contacts, e164(message.from), bsuid(message.from_user_id), used));
    out.events.push(event);
    if (event.event_type === 'identity') continue;
    const consent = rules.classify(consentInput(message));
    if (consent && event.recipient) out.events.push(consentEvent(event, consent.change, consent.how));
  }
  for (const error of list(value.errors)) {
    // Errors about the webhook itself (e.g. 131051 unsupported message type), not about one message.
    const code = isObject(error) ? text(error.code) : null;
    other('change error', error, { error_code: code, error_detail: isObject(error) ? text(error.message) ?? text(error.title) : null });
  }
  for (const action of list(value.user_actions)) {
    const type = isObject(action) ? text(action.action_type) : null;
    if (type === null || !/click/.test(type)) {
      other(`user action ${type ?? '(none)'}`, action);
      continue;
    }
    const a = action as Json;
    out.events.push({
      event_id: eventId('meta', ['user_action', type, digest(a)]),
      provider: 'meta', event_type: 'clicked', provider_message_id: null, recipient: null,
      occurred_at: parseTime(a.timestamp), received_at: receivedAt, error_code: null, error_detail: null, pricing_category: null, payload: a,
    });
  }
  const extra = Object.keys(value).filter((k) => !MESSAGES_KEYS.has(k));
  if (extra.length > 0) other(`messages value with ${extra.join(', ')}`, value);
  // A contact no status or message named is still a pair seen: it rides on the change's first event.
  const unmatched = contacts.filter((c) => !used.has(c)).flatMap(sighting);
  if (unmatched.length === 0) return;
  if (out.events.length > first) (out.events[first]!.identities ??= []).push(...unmatched);
  else other('contacts without messages or statuses', value, { identities: unmatched });
}

/** System messages that announce a user's new number or BSUID: not something the user wrote. */
const IDENTITY_CHANGES = new Set(['user_changed_number', 'user_changed_user_id']);

/**
 * A user's message. With a username the phone may be withheld (`from` missing): the recipient is
 * then the BSUID (`from_user_id`), so consent and replies still attach to someone. A
 * user_changed_number / user_changed_user_id system message is an `identity` event; its `system`
 * holds the new ids (`wa_id` may be missing), `from` the old phone.
 */
function inboundEvent(message: Json, receivedAt: Date, contact: MetaContact | undefined): ProviderEvent {
  const error = list(message.errors)[0];
  const id = text(message.id)!;
  const phone = e164(message.from) ?? contact?.phone ?? null;
  const userId = bsuid(message.from_user_id) ?? contact?.user_id ?? null;
  const identities: IdentitySighting[] = userId === null ? [] : [{
    phone, user_id: userId, parent_user_id: bsuid(message.from_parent_user_id) ?? contact?.parent_user_id ?? null, username: contact?.username ?? null,
  }];
  const system = message.type === 'system' && isObject(message.system) ? message.system : null;
  const change = system ? text(system.type) : null;
  const changed = change !== null && IDENTITY_CHANGES.has(change);
  if (changed) {
    const newId = bsuid(system!.user_id);
    if (newId !== null) identities.push({ phone: e164(system!.wa_id), user_id: newId, parent_user_id: bsuid(system!.parent_user_id), username: null });
  }
  return {
    event_id: eventId('meta', ['message', id]),
    provider: 'meta',
    event_type: changed ? 'identity' : 'inbound',
    provider_message_id: id,
    recipient: phone ?? userId,
    occurred_at: parseTime(message.timestamp),
    received_at: receivedAt,
    error_code: isObject(error) ? text(error.code) : null,
    error_detail: changed ? change : isObject(error) ? text(error.message) ?? text(error.title) : null,
    pricing_category: null,
    user_id: userId,
    identities,
    payload: message,
  };
}

/** Text of a text message or a button tap, and the payload or reply id of a quick reply. */
function consentInput(m: Json): { text: string | null; payload: string | null } {
  const body = isObject(m.text) ? text(m.text.body) : null;
  const button = isObject(m.button) ? m.button : null;
  const interactive = isObject(m.interactive) ? m.interactive : null;
  const reply = interactive && (isObject(interactive.button_reply) ? interactive.button_reply : isObject(interactive.list_reply) ? interactive.list_reply : null);
  return {
    text: body ?? (button ? text(button.text) : null) ?? (reply ? text(reply.title) : null),
    payload: (button ? text(button.payload) : null) ?? (reply ? text(reply.id) : null),
  };
}

/**
 * `user_preferences[]`: `{ wa_id?, user_id, parent_user_id?, detail, category: marketing_messages,
 * value: stop | resume, timestamp }`. Without a phone the opt-out is keyed by the BSUID.
 */
function preferencesChange(value: Json, receivedAt: Date, out: ParsedWebhook, other: Other): void {
  const prefs = list(value.user_preferences);
  if (prefs.length === 0) other('user_preferences without entries', value);
  for (const pref of prefs) {
    const v = isObject(pref) ? text(pref.value)?.toLowerCase() : undefined;
    const change = v === 'stop' ? 'opted_out' : v === 'resume' ? 'opted_in' : null;
    const phone = isObject(pref) ? e164(pref.wa_id) : null;
    const userId = isObject(pref) ? bsuid(pref.user_id) : null;
    const recipient = phone ?? userId;
    if (!change || !recipient) {
      other(`user preference ${v ?? '(none)'}`, pref);
      continue;
    }
    const p = pref as Json;
    out.events.push({
      event_id: eventId('meta', ['user_preferences', recipient, v, text(p.timestamp), text(p.category)]),
      provider: 'meta', event_type: change, provider_message_id: null, recipient,
      occurred_at: parseTime(p.timestamp), received_at: receivedAt, error_code: null, error_detail: 'marketing_preference', pricing_category: null,
      user_id: userId,
      identities: userId === null ? [] : [{ phone, user_id: userId, parent_user_id: bsuid(p.parent_user_id), username: null }],
      payload: p,
    });
  }
}

/** `{ previous, current }` (Meta's sample) or a plain id: the current one. */
function currentId(v: unknown): string | null {
  return isObject(v) ? bsuid(v.current) : bsuid(v);
}

/**
 * `user_id_update[]`: `{ wa_id?, detail, user_id: { previous, current }, parent_user_id?, timestamp }`,
 * one `identity` event each. The new pair lands; the old one stays as it was last seen.
 */
function userIdUpdateChange(value: Json, receivedAt: Date, out: ParsedWebhook, other: Other): void {
  const updates = list(value.user_id_update);
  if (updates.length === 0) other('user_id_update without entries', value);
  const contacts = contactsOf(value);
  for (const update of updates) {
    const current = isObject(update) ? currentId(update.user_id) : null;
    if (current === null) {
      other('user_id_update without a current user_id', update);
      continue;
    }
    const u = update as Json;
    const contact = contactFor(contacts, e164(u.wa_id), current, new Set());
    const phone = e164(u.wa_id) ?? contact?.phone ?? null;
    const previous = isObject(u.user_id) ? text(u.user_id.previous) : null;
    out.events.push({
      event_id: eventId('meta', ['user_id_update', previous, current, text(u.timestamp)]),
      provider: 'meta', event_type: 'identity', provider_message_id: null, recipient: phone ?? current,
      occurred_at: parseTime(u.timestamp), received_at: receivedAt, error_code: null, error_detail: text(u.detail) ?? 'user_id_update', pricing_category: null,
      user_id: current,
      identities: [{ phone, user_id: current, parent_user_id: currentId(u.parent_user_id) ?? contact?.parent_user_id ?? null, username: contact?.username ?? null }],
      payload: u,
    });
  }
}

/** A template or account change: one event, its id from its content. */
function fieldEvent(field: string, type: EventType, value: Json, receivedAt: Date): ProviderEvent {
  return {
    event_id: eventId('meta', [field, digest(value)]),
    provider: 'meta', event_type: type, provider_message_id: null, recipient: null,
    occurred_at: parseTime(value.timestamp), received_at: receivedAt, error_code: null,
    error_detail: text(value.event) ?? text(value.message_template_name) ?? field, pricing_category: null,
    payload: { field, value },
  };
}
