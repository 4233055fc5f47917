/**
 * Meta status objects (`entry[].changes[].value.statuses[]`) as herald events. The sandbox emits
 * these same objects, so its events take the webhook path's mapping.
 */
import { eventId, type EventType, type ProviderEvent } from '../../events/event.js';
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

const STATUS_TYPES: Record<string, EventType> = { sent: 'sent', delivered: 'delivered', read: 'read', played: 'read', failed: 'failed' };

export function metaStatusEvent(status: MetaStatus, receivedAt: Date): ProviderEvent {
  const error = status.errors?.[0];
  return {
    event_id: eventId('meta', ['status', status.id, status.status, status.timestamp, error?.code]),
    provider: 'meta',
    event_type: STATUS_TYPES[status.status] ?? 'other',
    provider_message_id: status.id,
    recipient: status.recipient_id ? `+${status.recipient_id.replace(/^\+/, '')}` : null,
    occurred_at: /^\d+$/.test(status.timestamp) ? new Date(Number(status.timestamp) * 1000) : null,
    received_at: receivedAt,
    error_code: error ? String(error.code) : null,
    error_detail: error ? (error.error_data?.details ?? error.message ?? error.title ?? null) : null,
    pricing_category: status.pricing?.category ?? null,
    billable: typeof status.pricing?.billable === 'boolean' ? status.pricing.billable : null,
    pricing_model: status.pricing?.pricing_model ?? null,
    pricing_type: status.pricing?.type ?? null,
    user_id: typeof status.recipient_user_id === 'string' && status.recipient_user_id !== '' ? status.recipient_user_id : null,
    payload: status,
    // 131049 (per-user marketing limit) comes in a failed status after the send was accepted.
    ...(error && metaErrorAction(error.code) === 'defer' ? { deferMs: DEFER_MS } : {}),
    // herald sends its send id as biz_opaque_callback_data; Meta echoes it on every status.
    send_id: typeof status.biz_opaque_callback_data === 'string' && status.biz_opaque_callback_data !== '' ? status.biz_opaque_callback_data : null,
  };
}
