/**
 * Consent events derived from provider events: an inbound STOP becomes an `inbound` event and an
 * `opted_out` event of its own (own id, same raw payload), so `herald.events` says what happened
 * and `applyConsent` finds every opt-out and opt-in in one place.
 */
import { eventId, type ProviderEvent } from '../events/event.js';
import type { ConsentChange } from './rules.js';

/**
 * `how` says why (keyword, quick_reply, 131050, marketing_preference); it lands in `error_detail`
 * and, for opt-outs, in the suppression's reason (`opted_out:keyword`).
 */
export function consentEvent(source: ProviderEvent, change: ConsentChange, how: string): ProviderEvent {
  return {
    ...source,
    event_id: eventId(source.provider, [change, source.event_id]),
    event_type: change,
    error_code: null,
    error_detail: how,
  };
}
