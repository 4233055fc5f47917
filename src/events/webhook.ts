/**
 * The webhook side every provider adapter implements (STYLE 2: the adapter owns it): prove a
 * request is the provider's own, then turn its body into herald events — every event of it, with
 * shapes herald does not know landed as `other` with their raw payload, never dropped.
 */
import { safeEqual } from '../util/safe-equal.js';
import type { IncomingHttpHeaders } from 'node:http';
import { eventId, type ProviderEvent } from './event.js';
import { digest } from './fields.js';

/** What a webhook body turned into. */
export interface ParsedWebhook {
  events: ProviderEvent[];
  /** Parts of the body herald did not recognise (landed as `other`): said in a warning, never dropped. */
  unknown: string[];
}

export interface WebhookRequest {
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
  /** The body exactly as received: signatures are computed over these bytes, never re-serialized JSON. */
  raw: Buffer;
}

export interface WebhookAdapter {
  readonly provider: 'meta' | 'infobip' | 'ada';
  /** null when the request is authentic, else why not (for the log; the caller only sees 401). */
  authenticate(req: WebhookRequest): string | null;
  /** `kind` is the last path segment when the provider posts each kind to its own URL. */
  parse(body: unknown, receivedAt: Date, kind?: string): ParsedWebhook;
}

/** Constant-time equality of two secrets (different lengths are unequal, in constant time too). */

export interface SharedSecretConfig {
  webhook_secret?: string | undefined;
  webhook_auth: 'basic' | 'header' | 'query';
  webhook_user?: string | undefined;
  webhook_header: string;
}

/** Basic auth, a header, or `?secret=`, as configured (runtime.schema `webhookAuthFields`). */
export function sharedSecretAuthorized(req: WebhookRequest, config: SharedSecretConfig, secretVariable: string): string | null {
  const secret = config.webhook_secret;
  if (!secret) return `${secretVariable} is not set: every webhook is refused`;
  switch (config.webhook_auth) {
    case 'basic': {
      const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header(req.headers.authorization) ?? '');
      if (!m) return 'no Basic authorization header';
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon === -1 ? '' : decoded.slice(0, colon);
      const password = colon === -1 ? decoded : decoded.slice(colon + 1);
      const userOk = config.webhook_user ? safeEqual(user, config.webhook_user) : true;
      return safeEqual(password, secret) && userOk ? null : 'wrong Basic credentials';
    }
    case 'header': {
      const given = header(req.headers[config.webhook_header.toLowerCase()]);
      if (given === undefined) return `no ${config.webhook_header} header`;
      return safeEqual(given, secret) ? null : `wrong ${config.webhook_header} header`;
    }
    case 'query': {
      const given = req.query.get('secret');
      if (given === null) return 'no secret in the query';
      return safeEqual(given, secret) ? null : 'wrong secret in the query';
    }
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** An event herald cannot interpret: its raw payload lands as `other`, with an id from its content. */
export function otherEvent(provider: string, kind: string, payload: unknown, receivedAt: Date, extra: Partial<ProviderEvent> = {}): ProviderEvent {
  return {
    event_id: eventId(provider, ['other', kind, digest(payload)]),
    provider,
    event_type: 'other',
    provider_message_id: null,
    recipient: null,
    occurred_at: null,
    received_at: receivedAt,
    error_code: null,
    error_detail: kind,
    pricing_category: null,
    payload,
    ...extra,
  };
}
