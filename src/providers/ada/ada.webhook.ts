/**
 * ADA's webhook side. ADA publishes no callback reference: public integration code shows
 * `platform`, `accountNo` and `eventType` (Message, Delivery, Read); the other field names are
 * configuration (`providers.ada.callback_fields`), and callbacks are authenticated by a shared
 * secret (header, Basic or `?secret=`), since ADA documents no signing.
 */
import type { AdaConfig } from '../../config/runtime.schema.js';
import { consentEvent } from '../../consent/events.js';
import type { ConsentRules } from '../../consent/rules.js';
import { eventId, type EventType, type ProviderEvent } from '../../events/event.js';
import { atPath, digest, e164, isObject, parseTime, text, type Json } from '../../events/fields.js';
import { otherEvent, sharedSecretAuthorized, type ParsedWebhook, type WebhookAdapter } from '../../events/webhook.js';

type Fields = AdaConfig['callback_fields'];
type AuthConfig = Pick<AdaConfig, 'webhook_secret' | 'webhook_auth' | 'webhook_user' | 'webhook_header'>;

export function adaWebhook(config: AuthConfig & { callback_fields: Fields }, rules: ConsentRules): WebhookAdapter {
  return {
    provider: 'ada',
    authenticate: (req) => sharedSecretAuthorized(req, config, 'ADA_WEBHOOK_SECRET'),
    parse: (body, receivedAt) => parseAdaWebhook(body, receivedAt, rules, config.callback_fields),
  };
}

const FAILED = /fail|undeliver|reject|error|expired/i;

export function parseAdaWebhook(body: unknown, receivedAt: Date, rules: ConsentRules, fields: Fields): ParsedWebhook {
  const out: ParsedWebhook = { events: [], unknown: [] };
  const items = Array.isArray(body) ? body : isObject(body) && Array.isArray(body.data) ? body.data : [body];
  for (const item of items) {
    const kind = isObject(item) ? text(atPath(item, fields.event_type))?.toLowerCase() : undefined;
    const messageId = isObject(item) ? text(atPath(item, fields.message_id)) : null;
    if (!isObject(item) || (kind !== 'message' && kind !== 'delivery' && kind !== 'read')) {
      const what = `eventType ${kind ?? '(none)'}`;
      out.unknown.push(what);
      out.events.push(otherEvent('ada', what, item, receivedAt, { provider_message_id: messageId }));
      continue;
    }
    const status = text(atPath(item, fields.status));
    const type: EventType = kind === 'message' ? 'inbound' : kind === 'read' ? 'read' : status && FAILED.test(status) ? 'failed' : 'delivered';
    const event = adaEvent(type, item, receivedAt, fields);
    out.events.push(event);
    if (type === 'inbound' && event.recipient) {
      const consent = rules.classify({ text: text(atPath(item, fields.text)), payload: text(atPath(item, fields.payload)) });
      if (consent) out.events.push(consentEvent(event, consent.change, consent.how));
    }
  }
  return out;
}

/**
 * One ADA event. Its id is (type, message id, time): the same as `herald import ada-log` gives a
 * log line for the same event, so a callback and a later import of the same event land once.
 */
export function adaEvent(type: EventType, item: Json, receivedAt: Date, fields: Fields): ProviderEvent {
  const messageId = text(atPath(item, fields.message_id));
  const occurredAt = parseTime(atPath(item, fields.timestamp));
  const recipient = fields.recipient.map((f) => e164(atPath(item, f))).find((r) => r !== null) ?? null;
  const failed = type === 'failed';
  return {
    event_id: adaEventId(type, messageId, occurredAt, messageId && occurredAt ? null : digest(item)),
    provider: 'ada',
    event_type: type,
    provider_message_id: messageId,
    recipient,
    occurred_at: occurredAt,
    received_at: receivedAt,
    error_code: failed ? text(atPath(item, fields.error_code)) ?? text(atPath(item, fields.status)) : null,
    error_detail: failed ? text(atPath(item, fields.status)) : null,
    pricing_category: null,
    payload: item,
  };
}

export function adaEventId(type: EventType, messageId: string | null, occurredAt: Date | null, fallback: string | null): string {
  return eventId('ada', [type, messageId, occurredAt ? Math.floor(occurredAt.getTime() / 1000) : null, fallback]);
}
