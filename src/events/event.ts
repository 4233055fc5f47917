/** Provider events (DESIGN "Tables": `herald.events`) and the one code path that lands them. */
import { applyConsent } from '../consent/apply.js';
import { deferByEvents } from '../pipeline/land.js';
import { recordEventsLanded } from '../observability/metrics.js';
import { GroupCommit } from '../util/group-commit.js';
import { hexDigest } from '../util/hex-digest.js';
import { EVENTS } from '../warehouse/tables.js';
import { landIdentities, type IdentitySighting } from './identities.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { storableEvent, type EventRow } from './storable.js';

export type EventType = 'sent' | 'delivered' | 'read' | 'failed' | 'clicked' | 'inbound' | 'opted_out' | 'opted_in'
  | 'template' | 'account' | 'billing' | 'identity' | 'other';

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
  /** herald's send id when the provider echoes it back (Meta biz_opaque_callback_data, Infobip callbackData). */
  send_id?: string | null;
  /** The business-scoped user id (BSUID, `US.1349…`) when the provider gives one; a username-only user has no phone. */
  user_id?: string | null;
  /** The account the event came through (Meta: the WABA id of the webhook entry). */
  account?: string | null;
  /** A status's pricing (Meta per-message pricing): billable, pricing model (PMP), type (regular, free_customer_service, …). */
  billable?: boolean | null;
  pricing_model?: string | null;
  pricing_type?: string | null;
  /**
   * A `failed` status whose error the provider files as "not now" (Meta 131049, the per-user
   * marketing limit): the send becomes `deferred` until then instead of failed.
   */
  defer_until?: Date | null;
  /** Phone ↔ BSUID pairs this event showed, landed in `herald.identities` (events/identities.ts). Not stored on the event. */
  identities?: IdentitySighting[];
}

/** The same (provider, message, type, time) is the same event, however often it is delivered. */
export function eventId(provider: string, parts: readonly (string | number | null | undefined)[]): string {
  return hexDigest([provider, ...parts.map((p) => String(p ?? ''))], 32);
}

/**
 * Lands events, deduplicated by event id, then brings `herald.suppressions` in line with any
 * opt-out / opt-in among them. Resolves only once both are durably written. Every event is
 * made storable first (storable.ts), whichever path it came by; UnstorableEvent, before anything
 * is written, when one cannot be.
 */
export async function landEvents(wh: Warehouse, events: readonly ProviderEvent[]): Promise<void> {
  await writeEvents(wh, events);
}

/** landEvents, returning the rows as stored (for the metrics). */
async function writeEvents(wh: Warehouse, events: readonly ProviderEvent[]): Promise<EventRow[]> {
  const rows = events.map(storableEvent);
  await wh.insert(EVENTS, rows as unknown as Record<string, unknown>[], { ignoreDuplicates: true });
  const deferrals = events.filter((e) => e.defer_until && e.event_type === 'failed');
  if (deferrals.length > 0) await deferByEvents(wh, deferrals);
  // Before consent: a suppression by BSUID reaches the phone through the pair this batch showed.
  await landIdentities(wh, events);
  if (rows.some((e) => e.event_type === 'opted_out' || e.event_type === 'opted_in')) await inTurn(wh, () => applyConsent(wh, rows));
  return rows;
}

/**
 * Consent is applied one batch at a time per warehouse, each after its own events are stored:
 * the last one to run sees every consent event of the batches before it, so concurrent batches
 * (an opt-out and a later opt-in of the same person) cannot leave a stale suppression behind.
 */
const consentTurns = new WeakMap<Warehouse, Promise<unknown>>();
function inTurn(wh: Warehouse, work: () => Promise<void>): Promise<void> {
  const turn = (consentTurns.get(wh) ?? Promise.resolve()).then(work, work);
  consentTurns.set(wh, turn.catch(() => undefined));
  return turn;
}

/** Batches written at once: PostgreSQL overlaps them on its pool; DuckDB has one writer anyway. */
const WRITERS = { postgres: 6, duckdb: 1 } as const;

/**
 * Where providers hand events to be landed: concurrent callers share one batched write (group
 * commit), and each call resolves once its events are durable. A failed batch is written again
 * call by call, so only the call whose events cannot be stored fails. The warehouse is looked up
 * at write time, so a sink can exist before its warehouse is opened.
 */
export function eventSink(warehouse: () => Warehouse): { land(events: ProviderEvent[]): Promise<void>; idle(): Promise<void> } {
  const commit = new GroupCommit<ProviderEvent>(async (batch) => {
    recordEventsLanded(await writeEvents(warehouse(), batch));
  }, () => WRITERS[(warehouse() as Warehouse | undefined)?.kind ?? 'duckdb'], undefined, { isolate: true });
  return { land: (events) => commit.add(events), idle: () => commit.idle() };
}
