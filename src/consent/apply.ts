/**
 * Keeps `herald.suppressions` equal to each recipient's latest consent event. Called after a
 * batch of events has landed: for the recipients with an `opted_out` / `opted_in` event in it, the
 * latest such event in `herald.events` (by occurred_at, then received_at; opt-out wins a tie)
 * decides. So a redelivered opt-out never undoes a later opt-in, out-of-order arrivals settle to
 * the same state, and a retried batch (after a 503) converges.
 */
import type { ProviderEvent } from '../events/event.js';
import { SUPPRESSIONS } from '../warehouse/tables.js';
import type { Warehouse } from '../warehouse/warehouse.js';

interface ConsentRow {
  recipient: string;
  event_type: 'opted_out' | 'opted_in';
  event_id: string;
  occurred_at: Date | string | null;
  received_at: Date | string;
  error_detail: string | null;
}

export function isConsentEvent(e: ProviderEvent): boolean {
  return (e.event_type === 'opted_out' || e.event_type === 'opted_in') && e.recipient !== null;
}

export async function applyConsent(wh: Warehouse, events: readonly ProviderEvent[]): Promise<void> {
  const recipients = [...new Set(events.filter(isConsentEvent).map((e) => e.recipient!))];
  if (recipients.length === 0) return;
  const rows = await wh.query<ConsentRow>(
    'SELECT recipient, event_type, event_id, occurred_at, received_at, error_detail FROM herald.events ' +
    "WHERE recipient IN (SELECT unnest($1::text[])) AND event_type IN ('opted_out', 'opted_in')", [recipients]);
  const latest = new Map<string, ConsentRow>();
  for (const row of rows) {
    const best = latest.get(row.recipient);
    if (!best || later(row, best)) latest.set(row.recipient, row);
  }
  const suppress = [...latest.values()].filter((r) => r.event_type === 'opted_out');
  const lift = [...latest.values()].filter((r) => r.event_type === 'opted_in').map((r) => r.recipient);
  if (lift.length > 0) await wh.query('DELETE FROM herald.suppressions WHERE recipient IN (SELECT unnest($1::text[]))', [lift]);
  // An existing suppression (another reason, an earlier opt-out) stays as it is.
  await wh.insert(SUPPRESSIONS, suppress.map((r) => ({
    recipient: r.recipient,
    reason: r.error_detail ? `opted_out:${r.error_detail}` : 'opted_out',
    source_event_id: r.event_id,
    created_at: new Date(r.occurred_at ?? r.received_at),
  })), { ignoreDuplicates: true });
}

function time(r: ConsentRow): number {
  return new Date(r.occurred_at ?? r.received_at).getTime();
}

function later(a: ConsentRow, b: ConsentRow): boolean {
  if (time(a) !== time(b)) return time(a) > time(b);
  return a.event_type === 'opted_out' && b.event_type === 'opted_in';
}
