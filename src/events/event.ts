/** Provider events (DESIGN "Tables": `herald.events`) and the one code path that lands them. */
import { createHash } from 'node:crypto';
import { GroupCommit } from '../util/group-commit.js';
import { EVENTS } from '../warehouse/tables.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export type EventType = 'sent' | 'delivered' | 'read' | 'failed' | 'clicked' | 'inbound' | 'opted_out' | 'opted_in'
  | 'template' | 'account' | 'billing' | 'other';

/** A row of `herald.events`. */
export interface ProviderEvent {
  /** Deterministic from the event's content, so a redelivery lands once. */
  event_id: string;
  provider: string;
  event_type: EventType;
  provider_message_id: string | null;
  recipient: string | null;
  occurred_at: Date | null;
  received_at: Date;
  error_code: string | null;
  error_detail: string | null;
  pricing_category: string | null;
  /** The provider's own JSON for this event, kept raw (there is no API to fetch old webhooks). */
  payload: unknown;
}

/** The same (provider, message, type, time) is the same event, however often it is delivered. */
export function eventId(provider: string, parts: readonly (string | number | null | undefined)[]): string {
  return createHash('sha256').update([provider, ...parts.map((p) => p ?? '')].join('\u001f')).digest('hex').slice(0, 32);
}

/** Lands events, deduplicated by event id. Resolves only once they are durably written. */
export async function landEvents(wh: Warehouse, events: readonly ProviderEvent[]): Promise<void> {
  await wh.insert(EVENTS, events as unknown as Record<string, unknown>[], { ignoreDuplicates: true });
}

/**
 * Where providers hand events to be landed: concurrent callers share one batched write (group
 * commit), and each call resolves once its events are durable. The warehouse is looked up at
 * write time, so a sink can exist before its warehouse is opened.
 */
export function eventSink(warehouse: () => Warehouse): { land(events: ProviderEvent[]): Promise<void>; idle(): Promise<void> } {
  const commit = new GroupCommit<ProviderEvent>((batch) => landEvents(warehouse(), batch));
  return { land: (events) => commit.add(events), idle: () => commit.idle() };
}
