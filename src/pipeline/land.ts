/**
 * Land: the ledger. Every write of `herald.sends` goes through this file, and these are its rules
 * (DESIGN "Idempotency and crashes"):
 *
 *   decided before any call     → rejected | suppressed | duplicate | planned | deferred   (final)
 *   the limiter granted the row → in_flight            written before its request starts
 *   in_flight                   → accepted | failed | deferred | unknown   the provider's answer
 *   in_flight                   → pending   a retryable answer (until its next turn), or the run
 *                                           stopped (signal, abort, circuit breaker): not sent
 *   never started, run stopped  → pending   a resumed run attempts every row that is not final
 *   after a crash (recover)     in_flight → unknown
 *   webhooks (reconcile)        unknown → accepted | failed by the send id the provider echoes;
 *                               unknown with no event while later sends got theirs → pending
 *   webhooks (as they land)     accepted | unknown → deferred on a failed status the provider
 *                               files as "not now" (Meta 131049): never failed, not before 24 h
 *
 * Only a recipient-specific answer makes a row `failed`; a permanent one (undeliverable) also
 * sets `not_before`, so the job leaves the key alone for `retry_failed_after`. An opt-out answer
 * (Meta 131050) lands its suppression in the same transaction as the settlement. Writes from
 * concurrent sends share one transaction (group commit), and every update must find its row.
 */
import type { Job } from '../config/job.schema.js';
import { durationMs } from '../config/job.schema.js';
import { recordSends } from '../observability/metrics.js';
import type { SendOutcome } from '../providers/provider.js';
import type { RenderedMessage, SendRecord, SendStatus, Verdict } from '../types.js';
import { GroupCommit } from '../util/group-commit.js';
import { SENDS, SUPPRESSIONS } from '../warehouse/tables.js';
import { lastPerKey, type Row, type Warehouse, type WriteOp } from '../warehouse/warehouse.js';

/** A row decide() handed to dispatch: to be sent now. */
export interface Sendable {
  record: SendRecord;
  message: RenderedMessage;
  /** The row is already in herald.sends (a resumed run): it is updated, not inserted. */
  stored: boolean;
  /** Sending hours, asked again before each attempt: a verdict when the row may not go now. */
  holdAt(at: Date): Verdict | null;
  /** Seconds left before `delivery.not_after` in the recipient's zone (null: no end of the hours). */
  secondsLeft?(at: Date): number | null;
}

export interface Tally {
  rows: number;
  byStatus: Partial<Record<SendStatus, number>>;
  /** The segment's row count, once a separate count query has answered (for progress and ETA). */
  total?: number;
}

/** The columns a transition may change. */
const CHANGED = ['status', 'reason', 'error_code', 'error_detail', 'provider_message_id', 'attempts', 'sent_at', 'recipient', 'variables', 'not_before'] as const;

/**
 * How long a settlement (or a row set back to pending) may wait for the write that carries it,
 * until the run's pacing says (settleWithin: batchWindowMs of its rate): the answers of this time
 * and the in-flight rows of the next sends share one transaction. Nothing waits on it but the
 * send's own permit (concurrency covers it), and a crash before it is written leaves the row in
 * flight, so unknown: the guarantee is the in-flight write's, not this one's.
 */
const SETTLE_WITHIN_MS = 15;

const FINAL: ReadonlySet<SendStatus> = new Set(['planned', 'rejected', 'suppressed', 'duplicate', 'accepted', 'failed', 'deferred', 'unknown']);

interface Write {
  record: SendRecord;
  insert: boolean;
  suppression?: Row;
}

export class Ledger {
  private readonly commit: GroupCommit<Write>;
  private readonly tally: Tally = { rows: 0, byStatus: {} };
  private readonly retryFailedAfterMs: number;
  private settleWithinMs = SETTLE_WITHIN_MS;

  constructor(wh: Warehouse, job: Job, private readonly now: () => Date, private readonly onProgress?: (t: Tally) => void) {
    this.retryFailedAfterMs = durationMs(job.delivery.retry_failed_after);
    this.commit = new GroupCommit((writes) => wh.write(ledgerOps(writes)), () => (wh.kind === 'postgres' ? 2 : 1));
  }

  /** How long settlements may wait to share a write (the run's batch window, from its rate). */
  settleWithin(ms: number): void {
    this.settleWithinMs = Math.max(0, ms);
  }

  /** Rows whose fate was decided without a call: new ones inserted, resumed ones updated. */
  decided(records: readonly SendRecord[], stored: boolean): Promise<void> {
    return this.write(records.map((record) => ({ record, insert: !stored })));
  }

  /**
   * The limiter granted the row: it is in flight from here until the provider answers. Durable
   * within `slotInMs` (when its slot frees: the request starts only after this resolves).
   */
  start(s: Sendable, attempt: number, slotInMs = 0): Promise<void> {
    // sent_at holds when the request started until an acceptance replaces it: an unknown send's
    // age (unknown_resend_after) is counted from its last request, not from when it was read.
    Object.assign(s.record, { status: 'in_flight', reason: null, attempts: attempt, sent_at: this.now() });
    return this.put(s, slotInMs);
  }

  accepted(s: Sendable, outcome: Extract<SendOutcome, { kind: 'accepted' }>): Promise<void> {
    const held = outcome.detail && outcome.detail !== 'accepted' ? outcome.detail : null;
    return this.settle(s, { status: 'accepted', reason: held }, { provider_message_id: outcome.providerMessageId, sent_at: this.now() });
  }

  /** A recipient-specific refusal (permanent, invalid_row, fix_request, retries used up on the recipient). */
  failed(s: Sendable, outcome: Extract<SendOutcome, { kind: 'error' }>, detail = outcome.detail): Promise<void> {
    const notBefore = outcome.action === 'permanent' ? new Date(this.now().getTime() + this.retryFailedAfterMs) : null;
    const suppression = outcome.optedOut && s.record.recipient
      ? { recipient: s.record.recipient, reason: `opted_out:provider:${outcome.code}`, source_event_id: null, created_at: this.now() }
      : undefined;
    return this.settle(s, { status: 'failed', reason: `provider:${outcome.code}`, errorCode: outcome.code, detail }, { not_before: notBefore }, suppression);
  }

  deferred(s: Sendable, verdict: Verdict, notBefore: Date | null = null): Promise<void> {
    return this.settle(s, { ...verdict, status: 'deferred' }, { not_before: notBefore });
  }

  unknown(s: Sendable, detail: string): Promise<void> {
    return this.settle(s, { status: 'unknown', reason: 'outcome_unknown', detail });
  }

  /** Not sent, and to be sent: waiting for a retry, or the run stopped before the row's request. */
  pending(s: Sendable, reason: string, detail: string, errorCode: string | null = null): Promise<void> {
    withVerdict(s.record, { status: 'pending', reason, detail, errorCode });
    return this.put(s, this.settleWithinMs);
  }

  idle(): Promise<void> {
    return this.commit.idle();
  }

  private settle(s: Sendable, verdict: Verdict, extra: Partial<SendRecord> = {}, suppression?: Row): Promise<void> {
    Object.assign(withVerdict(s.record, verdict), extra);
    return this.put(s, this.settleWithinMs, suppression);
  }

  /** Writes the row as it now is, durable within `withinMs`: inserted the first time, updated after. */
  private put(s: Sendable, withinMs: number, suppression?: Row): Promise<void> {
    const insert = !s.stored;
    s.stored = true;
    return this.write([{ record: s.record, insert, ...(suppression ? { suppression } : {}) }], withinMs);
  }

  private async write(writes: Write[], withinMs = 0): Promise<void> {
    if (writes.length === 0) return;
    await this.commit.add(writes, withinMs);
    const final = writes.map((w) => w.record).filter((r) => FINAL.has(r.status));
    if (final.length === 0) return;
    recordSends(final);
    for (const r of final) this.tally.byStatus[r.status] = (this.tally.byStatus[r.status] ?? 0) + 1;
    this.tally.rows += final.length;
    this.onProgress?.(this.tally);
  }
}

/** The record with the verdict's status, reason, code and detail (the rest of the row as it was). */
export function withVerdict(record: SendRecord, v: Verdict): SendRecord {
  return Object.assign(record, { status: v.status, reason: v.reason, error_code: v.errorCode ?? null, error_detail: v.detail ?? null });
}

/** One transaction: new rows, then changed rows, then the suppressions the answers carried. */
function ledgerOps(writes: readonly Write[]): WriteOp[] {
  const inserts: Row[] = [];
  const updates: Row[] = [];
  const suppressions: Row[] = [];
  for (const w of writes) {
    // A snapshot: the record may change again (next attempt) while this batch is being written.
    (w.insert ? inserts : updates).push({ ...w.record });
    if (w.suppression) suppressions.push(w.suppression);
  }
  return [
    { insert: SENDS, rows: inserts },
    // created_at never changes: the zone-map hint is exact (DuckDB skips older row groups).
    { update: SENDS, rows: updates, columns: CHANGED, recentOn: 'created_at' },
    { insert: SUPPRESSIONS, rows: suppressions, ignoreDuplicates: true },
  ];
}

const INTERRUPTED = "UPDATE herald.sends SET status = 'unknown', reason = 'outcome_unknown', error_detail = 'the process ended while this send was in flight' ";

/**
 * Runs whose process died: their in-flight sends may or may not have reached the provider. With
 * `only`, just the sends it picks (a part of a run whose worker died; the other parts run on).
 */
/** What says which part of a run a send belongs to (runs/parts.ts). */
export interface PartKey {
  recipient: string | null;
  row_key: string;
}

export async function recoverInterrupted(wh: Warehouse, runIds: readonly string[], only?: (send: PartKey) => boolean): Promise<void> {
  if (runIds.length === 0) return;
  if (!only) {
    await wh.query(`${INTERRUPTED}WHERE run_id IN (SELECT unnest($1::text[])) AND status = 'in_flight'`, [runIds]);
    return;
  }
  const inFlight = await wh.query<{ send_id: string; recipient: string | null; row_key: string }>(
    "SELECT send_id, recipient, row_key FROM herald.sends WHERE run_id IN (SELECT unnest($1::text[])) AND status = 'in_flight'", [runIds]);
  const picked = inFlight.filter(only).map((s) => s.send_id);
  if (picked.length > 0) await wh.query(`${INTERRUPTED}WHERE send_id IN (SELECT unnest($1::text[])) AND status = 'in_flight'`, [picked]);
}

/**
 * Failed statuses that mean "not now" (Meta 131049, the per-user marketing limit, reported after
 * the send was accepted): the send becomes `deferred` until the event's `defer_until` (the
 * status's time + 24 h), so no run of the job sends it sooner, and it never counts as failed. The
 * error code stays on the row: analysts read marketing fatigue from it (herald.marketing_fatigue).
 * Done as the events land, and again by reconcileUnknowns for a send that was still in flight then.
 */
export async function deferByEvents(wh: Warehouse, events: readonly { send_id?: string | null; provider_message_id: string | null; error_code: string | null; error_detail: string | null; defer_until?: Date | null }[]): Promise<number> {
  const sendIds = events.map((e) => e.send_id).filter((id): id is string => typeof id === 'string');
  const messageIds = events.map((e) => e.provider_message_id).filter((id): id is string => typeof id === 'string');
  const sends = await wh.query<{ send_id: string; provider_message_id: string | null; created_at: Date | string }>(
    'SELECT send_id, provider_message_id, created_at FROM herald.sends ' +
    "WHERE (send_id IN (SELECT unnest($1::text[])) OR provider_message_id IN (SELECT unnest($2::text[]))) AND status IN ('accepted', 'unknown')",
    [sendIds, messageIds]);
  const rows = sends.flatMap((s) => {
    const e = events.find((x) => x.send_id === s.send_id || (x.provider_message_id !== null && x.provider_message_id === s.provider_message_id));
    return e?.defer_until ? [deferredRow(s, e, e.defer_until)] : [];
  });
  await wh.update(SENDS, rows, ['status', 'reason', 'error_code', 'error_detail', 'provider_message_id', 'not_before'], { recentOn: 'created_at' });
  return rows.length;
}

function deferredRow(s: { send_id: string; provider_message_id: string | null; created_at: Date | string }, e: { provider_message_id: string | null; error_code: string | null; error_detail: string | null }, until: Date | string): Row {
  return {
    send_id: s.send_id, created_at: s.created_at, status: 'deferred', reason: `provider:${e.error_code ?? 'deferred'}`, error_code: e.error_code,
    error_detail: `${e.error_detail ?? 'deferred by the provider'} (a status webhook, after the send was accepted)`,
    provider_message_id: s.provider_message_id ?? e.provider_message_id, not_before: new Date(until),
  };
}

/** Providers whose webhooks echo herald's send id, so a missing event says something. */
const ECHOES_SEND_ID = ['meta', 'sandbox'];

/**
 * The job's unknown sends, settled by what webhooks have told since: an event carrying the send's
 * id means the provider took it (a `failed` one, that it failed). A Meta send with no event at all
 * `unknown_resend_after` after its request started, while the sender's later accepted sends got theirs, was
 * never accepted: it goes back to `pending`, and the next run (or the resumed one) sends it.
 * `only` keeps a part of a run to its own recipients: a row released to `pending` after its own
 * part had passed it would wait for the next run. Returns how many rows changed.
 */
export async function reconcileUnknowns(wh: Warehouse, job: Job, now: Date, only: (send: PartKey) => boolean = () => true): Promise<{ settled: number; released: number }> {
  // A "not now" status that landed while its send was still in flight (or before a crash made it unknown).
  const notNow = (await wh.query<PartKey & { send_id: string; provider_message_id: string | null; created_at: Date | string; error_code: string | null; error_detail: string | null; defer_until: Date | string }>(
    'SELECT s.send_id, s.recipient, s.row_key, s.provider_message_id, s.created_at, e.error_code, e.error_detail, e.defer_until ' +
    "FROM herald.sends s JOIN herald.events e ON e.send_id = s.send_id WHERE s.job = $1 AND s.status IN ('accepted', 'unknown') " +
    "AND e.event_type = 'failed' AND e.defer_until IS NOT NULL", [job.name])).filter(only);
  const deferred = lastPerKey(notNow.map((e) => deferredRow(e, e, e.defer_until)), 'send_id');
  await wh.update(SENDS, deferred, ['status', 'reason', 'error_code', 'error_detail', 'provider_message_id', 'not_before'], { recentOn: 'created_at' });

  const seen = (await wh.query<PartKey & { send_id: string; created_at: Date | string; event_type: string; provider_message_id: string | null; error_code: string | null; error_detail: string | null; occurred_at: Date | string | null }>(
    'SELECT s.send_id, s.recipient, s.row_key, s.created_at, e.event_type, e.provider_message_id, e.error_code, e.error_detail, e.occurred_at ' +
    "FROM herald.sends s JOIN herald.events e ON e.send_id = s.send_id WHERE s.job = $1 AND s.status = 'unknown' " +
    "AND e.event_type IN ('sent', 'delivered', 'read', 'failed')", [job.name])).filter(only);
  const bySend = new Map<string, Row>();
  for (const e of seen) {
    const taken = e.event_type !== 'failed';
    const current = bySend.get(e.send_id);
    if (current && current.status === 'accepted') continue; // any sign of acceptance wins
    bySend.set(e.send_id, taken
      ? { send_id: e.send_id, created_at: e.created_at, status: 'accepted', reason: 'settled_by_webhook', error_code: null, error_detail: null,
        provider_message_id: e.provider_message_id, sent_at: e.occurred_at ?? now, not_before: null }
      : { send_id: e.send_id, created_at: e.created_at, status: 'failed', reason: `provider:${e.error_code ?? 'failed'}`, error_code: e.error_code,
        error_detail: e.error_detail ?? 'failed, as a webhook told after the outcome was unknown', provider_message_id: e.provider_message_id, sent_at: null,
        // A message the provider took and then could not deliver: the recipient's failure.
        not_before: new Date(now.getTime() + durationMs(job.delivery.retry_failed_after)) });
  }
  const settled = [...bySend.values()];
  await wh.update(SENDS, settled, ['status', 'reason', 'error_code', 'error_detail', 'provider_message_id', 'sent_at', 'not_before'], { recentOn: 'created_at' });

  const cutoff = new Date(now.getTime() - durationMs(job.delivery.unknown_resend_after));
  const silent = (await wh.query<PartKey & { send_id: string; created_at: Date | string }>(
    "SELECT s.send_id, s.recipient, s.row_key, s.created_at FROM herald.sends s WHERE s.job = $1 AND s.status = 'unknown' AND coalesce(s.sent_at, s.created_at) <= $2 " +
    'AND s.provider IN (SELECT unnest($3::text[])) ' +
    'AND NOT EXISTS (SELECT 1 FROM herald.events e WHERE e.send_id = s.send_id) ' +
    'AND EXISTS (SELECT 1 FROM herald.sends l JOIN herald.events e ON e.provider_message_id = l.provider_message_id ' +
    "  WHERE l.provider = s.provider AND l.sender = s.sender AND l.status = 'accepted' AND l.sent_at > coalesce(s.sent_at, s.created_at))",
    [job.name, cutoff, ECHOES_SEND_ID])).filter(only);
  await wh.update(SENDS, silent.map(({ send_id, created_at }) => ({
    send_id, created_at, status: 'pending', reason: 'never_accepted',
    error_detail: `no webhook for this send ${job.delivery.unknown_resend_after} after it started, while later sends from the sender got theirs: the provider never took it`,
  })), ['status', 'reason', 'error_detail'], { recentOn: 'created_at' });
  return { settled: settled.length + deferred.length, released: silent.length };
}
