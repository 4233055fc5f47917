/**
 * Meta status objects (`entry[].changes[].value.statuses[]`) as herald events. The sandbox emits
 * these same objects, so its events take the webhook path's mapping.
 */
import { eventId, type EventType, type ProviderEvent } from '../../events/event.js';
import { bsuid } from '../../util/bsuid.js';
import { DEFER_MS, metaErrorAction } from './meta.errors.js';

/** One element of `value.statuses` in a Meta webhook (fields per Meta's status webhook reference). */
export interface MetaStatus {
  id: string;
  status: string;
  timestamp: string;
  /** Absent for a username-only user, who has only `recipient_user_id` (BSUID). */
  recipient_id?: string;
  recipient_user_id?: string;
  recipient_parent_user_id?: string;
  biz_opaque_callback_data?: string;
  pricing?: { billable?: boolean; pricing_model?: string; category?: string; type?: string };
  errors?: { code: number; title?: string; message?: string; error_data?: { details?: string } }[];
}

/** An element of a change's `contacts[]`: since 2026 the phone may be missing, the BSUID not. */
export interface MetaContact {
  phone: string | null;
  user_id: string | null;
  parent_user_id: string | null;
  username: string | null;
}

const STATUS_TYPES: Record<string, EventType> = { sent: 'sent', delivered: 'delivered', read: 'read', played: 'read', failed: 'failed' };

/**
 * `contact` is the status's entry in the change's `contacts[]` (delivered and read carry the
 * username there). A status to a username-only user has no `recipient_id`: its recipient is the BSUID.
 */
export function metaStatusEvent(status: MetaStatus, receivedAt: Date, contact?: MetaContact): ProviderEvent {
  const error = status.errors?.[0];
  const phone = typeof status.recipient_id === 'string' && status.recipient_id !== '' ? `+${status.recipient_id.replace(/^\+/, '')}` : contact?.phone ?? null;
  const userId = bsuid(status.recipient_user_id) ?? contact?.user_id ?? null;
  const occurred = /^\d+$/.test(status.timestamp) ? new Date(Number(status.timestamp) * 1000) : null;
  return {
    event_id: eventId('meta', ['status', status.id, status.status, status.timestamp, error?.code]),
    provider: 'meta',
    event_type: STATUS_TYPES[status.status] ?? 'other',
    provider_message_id: status.id,
    recipient: phone ?? userId,
    occurred_at: occurred,
    received_at: receivedAt,
    error_code: error ? String(error.code) : null,
    error_detail: error ? (error.error_data?.details ?? error.message ?? error.title ?? null) : null,
    pricing_category: status.pricing?.category ?? null,
    billable: typeof status.pricing?.billable === 'boolean' ? status.pricing.billable : null,
    pricing_model: status.pricing?.pricing_model ?? null,
    pricing_type: status.pricing?.type ?? null,
    user_id: userId,
    identities: userId === null ? [] : [{
      phone, user_id: userId, parent_user_id: bsuid(status.recipient_parent_user_id) ?? contact?.parent_user_id ?? null, username: contact?.username ?? null,
    }],
    payload: status,
    // 131049 (per-user marketing limit) comes in a failed status after the send was accepted.
    defer_until: error && metaErrorAction(error.code) === 'defer' ? new Date((occurred ?? receivedAt).getTime() + DEFER_MS) : null,
    // herald sends its send id as biz_opaque_callback_data; Meta echoes it on every status.
    send_id: typeof status.biz_opaque_callback_data === 'string' && status.biz_opaque_callback_data !== '' ? status.biz_opaque_callback_data : null,
  };
}
