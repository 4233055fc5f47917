/**
 * Infobip's webhook side: Basic auth or a header secret (configured on the subscription), then
 * every element of `{ results: [...] }` (or a single event object) as herald events. Infobip
 * posts each kind to the URL configured for it; herald takes the kind from the last path segment
 * (`/webhooks/infobip/seen`, `/webhooks/infobip/MARKETING_SUBSCRIPTION_UPDATE`) and otherwise
 * recognises it by shape. Shapes: shared/reference (SDK models WhatsAppWebhookDeliveryResult,
 * WhatsAppSeenReport, WhatsAppWebhookInboundMessage; the subscription event names).
 */
import type { InfobipConfig } from '../../config/runtime.schema.js';
import { consentEvent } from '../../consent/events.js';
import type { ConsentRules } from '../../consent/rules.js';
import { eventId, type EventType, type ProviderEvent } from '../../events/event.js';
import { digest, e164, isObject, parseTime, text, type Json } from '../../events/fields.js';
import { otherEvent, sharedSecretAuthorized, type ParsedWebhook, type WebhookAdapter } from '../../events/webhook.js';
import { sendIdOfCallbackData } from './infobip.payload.js';

/** The subscription events for WhatsApp (Infobip Subscriptions API). */
export const INFOBIP_EVENTS = ['ACCOUNT_REGISTRATION', 'ACCOUNT_UPDATE_NOTIFICATION', 'BILLING', 'CLICK', 'DELIVERY', 'IDENTITY_CHANGE',
  'INBOUND_MESSAGE', 'MARKETING_SUBSCRIPTION_UPDATE', 'PAYMENT_STATUS', 'SEEN', 'TEMPLATE_UPDATE'] as const;
export type InfobipEvent = (typeof INFOBIP_EVENTS)[number];

/** Path segments accepted besides the event names themselves. */
const KIND_ALIASES: Record<string, InfobipEvent> = {
  DELIVERY_REPORT: 'DELIVERY', DELIVERY_REPORTS: 'DELIVERY', REPORTS: 'DELIVERY', DLR: 'DELIVERY',
  SEEN_REPORT: 'SEEN', SEEN_REPORTS: 'SEEN', READ: 'SEEN', INBOUND: 'INBOUND_MESSAGE', INBOUND_MESSAGES: 'INBOUND_MESSAGE',
  CLICKS: 'CLICK', TRACKING: 'CLICK', TEMPLATE: 'TEMPLATE_UPDATE', TEMPLATES: 'TEMPLATE_UPDATE', REGISTRATION: 'ACCOUNT_REGISTRATION',
  MARKETING_SUBSCRIPTION: 'MARKETING_SUBSCRIPTION_UPDATE', PAYMENT: 'PAYMENT_STATUS',
};

export function infobipKind(segment: string | undefined): InfobipEvent | undefined {
  if (!segment) return undefined;
  const name = segment.toUpperCase().replace(/-/g, '_');
  return (INFOBIP_EVENTS as readonly string[]).includes(name) ? (name as InfobipEvent) : KIND_ALIASES[name];
}

type AuthConfig = Pick<InfobipConfig, 'webhook_secret' | 'webhook_auth' | 'webhook_user' | 'webhook_header'>;

export function infobipWebhook(config: AuthConfig, rules: ConsentRules): WebhookAdapter {
  return {
    provider: 'infobip',
    authenticate: (req) => sharedSecretAuthorized(req, config, 'INFOBIP_WEBHOOK_SECRET'),
    parse: (body, receivedAt, kind) => parseInfobipWebhook(body, receivedAt, rules, infobipKind(kind)),
  };
}

export function parseInfobipWebhook(body: unknown, receivedAt: Date, rules: ConsentRules, kind?: InfobipEvent): ParsedWebhook {
  const out: ParsedWebhook = { events: [], unknown: [] };
  const items = isObject(body) && Array.isArray(body.results) ? body.results : Array.isArray(body) ? body : [body];
  for (const item of items) {
    const k = isObject(item) ? (kind ?? namedKind(item) ?? shapeKind(item)) : undefined;
    const events = k && isObject(item) ? toEvents(k, item, receivedAt, rules) : null;
    if (events) out.events.push(...events);
    else {
      const what = k ? `${k} event of unknown shape` : 'unrecognised result';
      out.unknown.push(what);
      out.events.push(otherEvent('infobip', what, item, receivedAt));
    }
  }
  return out;
}

/** An event that names itself (`event` / `eventType` / `eventName`). */
function namedKind(item: Json): InfobipEvent | undefined {
  return infobipKind(text(item.event) ?? text(item.eventType) ?? text(item.eventName) ?? undefined);
}

function shapeKind(item: Json): InfobipEvent | undefined {
  if (item.seenAt !== undefined) return 'SEEN';
  if (isObject(item.status) && item.messageId !== undefined && (item.doneAt !== undefined || item.sentAt !== undefined)) return 'DELIVERY';
  if (item.receivedAt !== undefined && (isObject(item.message) || item.integrationType !== undefined)) return 'INBOUND_MESSAGE';
  if ((text(item.notificationType) ?? '').toUpperCase().includes('CLICK') || item.clickedAt !== undefined) return 'CLICK';
  if (item.messageTemplateId !== undefined || item.messageTemplateName !== undefined) return 'TEMPLATE_UPDATE';
  if (item.businessAccountId !== undefined && Array.isArray(item.senders)) return 'ACCOUNT_REGISTRATION';
  return undefined;
}

/** Status groups (shared/reference): 1 PENDING, 2 UNDELIVERABLE, 3 DELIVERED, 4 EXPIRED, 5 REJECTED. */
const GROUPS: Record<string, EventType> = { PENDING: 'sent', DELIVERED: 'delivered', UNDELIVERABLE: 'failed', EXPIRED: 'failed', REJECTED: 'failed' };
const GROUP_IDS: Record<number, string> = { 1: 'PENDING', 2: 'UNDELIVERABLE', 3: 'DELIVERED', 4: 'EXPIRED', 5: 'REJECTED' };

function base(item: Json, receivedAt: Date): Omit<ProviderEvent, 'event_id' | 'event_type'> {
  return {
    provider: 'infobip', provider_message_id: text(item.messageId), recipient: null, occurred_at: null, received_at: receivedAt,
    error_code: null, error_detail: null, pricing_category: null, payload: item,
  };
}

/**
 * The send id of a report on one of our messages: from herald's callbackData when the report
 * carries it (Infobip documents callbackData as included in delivery reports; the SDKs' WhatsApp
 * report models lack it), else the messageId, which herald sets to the send id on every message.
 */
function reportSendId(item: Json, messageId: string): string {
  return sendIdOfCallbackData(item.callbackData) ?? messageId;
}

/** The events of one result, or null when its shape does not fit its kind (it lands as `other`). */
function toEvents(kind: InfobipEvent, item: Json, receivedAt: Date, rules: ConsentRules): ProviderEvent[] | null {
  const b = base(item, receivedAt);
  const id = (...parts: (string | null | undefined)[]) => eventId('infobip', [kind, ...parts]);
  switch (kind) {
    case 'DELIVERY': {
      const status = isObject(item.status) ? item.status : null;
      if (!status || !b.provider_message_id) return null;
      const group = text(status.groupName)?.toUpperCase() ?? GROUP_IDS[Number(status.groupId)] ?? '';
      const type = GROUPS[group] ?? 'other';
      // groupId 0 (OK) means no error.
      const e = isObject(item.error) ? item.error : null;
      const error = e && (e.groupId !== undefined ? Number(e.groupId) !== 0 : Number(e.id ?? 0) !== 0) ? e : null;
      return [{
        ...b, event_id: id(b.provider_message_id, text(status.name) ?? group, text(item.doneAt)), event_type: type,
        recipient: e164(item.to), occurred_at: parseTime(item.doneAt) ?? parseTime(item.sentAt),
        error_code: error ? text(error.name) ?? text(error.id) : type === 'failed' ? text(status.name) ?? group : null,
        error_detail: error ? text(error.description) : type === 'failed' ? text(status.description) : null,
        send_id: reportSendId(item, b.provider_message_id),
      }];
    }
    case 'SEEN':
      if (!b.provider_message_id) return null;
      // From and to are not consistent in seen reports (shared/reference): the message id joins.
      return [{
        ...b, event_id: id(b.provider_message_id, text(item.seenAt)), event_type: 'read', occurred_at: parseTime(item.seenAt),
        send_id: reportSendId(item, b.provider_message_id),
      }];
    case 'INBOUND_MESSAGE': {
      if (!b.provider_message_id) return null;
      const message = isObject(item.message) ? item.message : {};
      const event: ProviderEvent = {
        ...b, event_id: id(b.provider_message_id), event_type: 'inbound', recipient: e164(item.from), occurred_at: parseTime(item.receivedAt),
      };
      const consent = rules.classify({ text: text(message.text), payload: text(message.payload) ?? text(message.id) });
      return consent && event.recipient ? [event, consentEvent(event, consent.change, consent.how)] : [event];
    }
    case 'CLICK':
      return [{
        ...b, event_id: id(b.provider_message_id, text(item.clickedAt) ?? text(item.sendDateTime), text(item.url), digest(item)),
        event_type: 'clicked', recipient: e164(item.recipient ?? item.to ?? item.from),
        occurred_at: parseTime(item.clickedAt) ?? parseTime(item.sendDateTime), error_detail: text(item.url),
      }];
    case 'MARKETING_SUBSCRIPTION_UPDATE': {
      const recipient = e164(item.from ?? item.sender ?? item.phoneNumber ?? item.msisdn ?? item.to);
      const change = subscriptionChange(item);
      if (!recipient || !change) return null;
      return [{
        ...b, event_id: id(recipient, digest(item)), event_type: change, recipient, provider_message_id: null,
        occurred_at: firstTime(item), error_detail: 'marketing_subscription',
      }];
    }
    case 'TEMPLATE_UPDATE': case 'ACCOUNT_REGISTRATION': case 'ACCOUNT_UPDATE_NOTIFICATION': case 'IDENTITY_CHANGE':
    case 'BILLING': case 'PAYMENT_STATUS': {
      const type: EventType = kind === 'TEMPLATE_UPDATE' ? 'template' : kind === 'BILLING' || kind === 'PAYMENT_STATUS' ? 'billing' : 'account';
      const change = isObject(item.change) ? item.change : {};
      const detail = [kind, text(item.messageTemplateName), text(change.newStatus) ?? text(item.status), text(change.reason)].filter(Boolean).join(' ');
      return [{
        ...b, event_id: id(digest(item)), event_type: type, provider_message_id: null,
        recipient: kind === 'IDENTITY_CHANGE' ? e164(item.from ?? item.to) : null,
        occurred_at: firstTime(item), error_detail: detail,
      }];
    }
  }
}

const OPT_OUT = /^(STOP|STOPPED|OPT_?OUT|OPTED_?OUT|UNSUBSCRIBED?|PAUSED?)$/i;
const OPT_IN = /^(RESUME[D]?|START|OPT_?IN|OPTED_?IN|SUBSCRIBED?)$/i;

/**
 * The opt-out or opt-in of a MARKETING_SUBSCRIPTION_UPDATE. Infobip's documentation names the event
 * but herald has no sample of its body: the status is looked for in the likely fields, and a body
 * where none is found lands as `other` with a warning instead of being guessed.
 */
function subscriptionChange(item: Json): 'opted_out' | 'opted_in' | null {
  const holders = [item, ...['marketingSubscription', 'subscription', 'content', 'message', 'change'].map((k) => item[k]).filter(isObject)];
  for (const h of holders) {
    for (const key of ['status', 'subscriptionStatus', 'marketingSubscriptionStatus', 'newStatus', 'value', 'action', 'type']) {
      const v = text(h[key]);
      if (v && OPT_OUT.test(v)) return 'opted_out';
      if (v && OPT_IN.test(v)) return 'opted_in';
    }
  }
  return null;
}

function firstTime(item: Json): Date | null {
  for (const key of ['timestamp', 'createdAt', 'updatedAt', 'lastModifiedAt', 'receivedAt', 'eventTime']) {
    const t = parseTime(item[key]);
    if (t) return t;
  }
  return null;
}

