/**
 * Decide: the one stage that reads what the world says about a rendered row before it is sent —
 * this run's own rows (a resumed run), earlier runs of the job (accepted, unknown, failed
 * permanently, deferred), opt-outs, the sending hours, a dry run — and gives each row its fate:
 * a final verdict, or a place in the send queue.
 */
import type { Job } from '../config/job.schema.js';
import { loadPriorSends, type PriorSends } from '../store/prior-sends.js';
import { findSendsInRun, suppressionLookup, type PriorSend } from '../store/sends.store.js';
import type { Draft, SendRecord, Verdict } from '../types.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { dedupeSince, idempotencyKey, sendId } from './identity.js';
import { withVerdict, type Sendable } from './land.js';
import type { MessagingBudget } from './messaging-budget.js';
import { quietHours } from './quiet-hours.js';

export interface DecideOptions {
  job: Job;
  runId: string;
  dryRun: boolean;
  /** The run existed before (same run key): its rows are continued, never accounted twice. */
  resumed: boolean;
  /** Send again rows whose earlier outcome is unknown (DESIGN: off unless asked). */
  resendUnknown: boolean;
  /** The provider refuses a reused send id, so an unknown of this run may be sent again with it. */
  resendsSafely: boolean;
  wh: Warehouse;
  now: () => Date;
  /** The category the run sends in (runCategory): marketing is not delivered in some countries. */
  category?: string | null;
  /** The API path every send of the run takes (Meta: messages | marketing_messages), for the ledger. */
  api?: string | null;
  /** The portfolio's messaging limit: a new recipient past it is deferred (counted only, in a dry run). */
  budget?: MessagingBudget | null;
}

/** One batch's fates. */
export interface Decided {
  /** New rows with a final verdict (inserted). */
  settled: SendRecord[];
  /** Rows this run stored earlier that now get a final verdict (updated). */
  resettled: SendRecord[];
  sendable: Sendable[];
}

/**
 * Statuses of this run's own rows that a resumed run picks up again. Never `in_flight`: its
 * request may have gone out (runJob makes such rows unknown before deciding).
 */
const OPEN = new Set(['pending']);

export async function* decide(drafts: AsyncIterable<Draft[]>, o: DecideOptions): AsyncGenerator<Decided> {
  const prior = await loadPriorSends(o.wh, o.job.name, o.runId, dedupeSince(o.job.delivery.dedupe, o.now()), o.now());
  const suppressed = suppressionLookup(o.wh);
  const hours = quietHours(o.job.delivery, o.job.timezone);
  const holdAt = (recipient: string, zone: string | null | undefined) => (at: Date): Verdict | null => {
    const why = hours?.check(recipient, zone, at);
    return why ? { status: 'deferred', reason: 'quiet_hours', detail: why } : null;
  };

  const notDeliveredIn = o.category === 'marketing' ? new Set<string>(o.job.delivery.marketing_not_delivered_in) : null;
  const countryRule = (draft: Draft): Verdict | null => (notDeliveredIn && draft.country && notDeliveredIn.has(draft.country)
    ? { status: 'rejected', reason: 'marketing_not_delivered_in_country', detail: `Meta does not deliver marketing templates to ${draft.country} numbers (delivery.marketing_not_delivered_in)` }
    : null);

  // Asked last, of rows that would go (or be planned): only they reach a user.
  const overBudget = (recipient: string): Verdict | null => {
    if (!o.budget || o.budget.take(recipient) || o.dryRun) return null;
    const r = o.budget.report();
    return { status: 'deferred', reason: 'messaging_limit', detail: `the portfolio's messaging limit (${r.limit} unique users per 24 h, ${r.source}) is reached: ${r.used_24h} in the 24 h before this run, ${r.new_recipients} new in it` };
  };

  for await (const batch of drafts) {
    const created = o.now();
    const rows = batch.map((draft) => ({ draft, record: baseRecord(o, draft, created) }));
    const stored = o.resumed ? await storedRows(o.wh, o.runId, rows.map((r) => r.record.send_id)) : new Map<string, PriorSend>();
    const optedOut = await suppressed(rows.filter((r) => !r.draft.verdict && r.draft.recipient)
      .flatMap((r) => (r.draft.phone ? [r.draft.recipient!, r.draft.phone] : [r.draft.recipient!])));
    const out: Decided = { settled: [], resettled: [], sendable: [] };
    for (const { draft, record } of rows) {
      const earlier = stored.get(record.send_id);
      // This run's row is final (an unknown stays so unless it may be resent): accounted for.
      const resendable = earlier?.status === 'unknown' && !draft.verdict && (o.resendUnknown || o.resendsSafely);
      if (earlier && !OPEN.has(earlier.status) && !resendable) continue;
      if (earlier) Object.assign(record, { created_at: new Date(earlier.created_at), attempts: Number(earlier.attempts) });
      const hold = draft.verdict ? null : holdAt(record.recipient!, draft.timeZone);
      let verdict = draft.verdict ?? countryRule(draft) ?? verdictFor(record, draft, { prior, optedOut, dryRun: o.dryRun, resendUnknown: o.resendUnknown, hold: hold!(created) });
      if (!verdict || verdict.status === 'planned') verdict = overBudget(record.recipient!) ?? verdict;
      if (verdict) {
        (earlier ? out.resettled : out.settled).push(withVerdict(record, verdict));
      } else {
        out.sendable.push({
          record, message: draft.message!, stored: earlier !== undefined, holdAt: hold!,
          ...(hours ? { secondsLeft: (at: Date) => hours.secondsLeft(record.recipient!, draft.timeZone, at) } : {}),
        });
      }
    }
    yield out;
  }
}

function verdictFor(
  record: SendRecord, draft: Draft,
  c: { prior: PriorSends; optedOut: Map<string, string>; dryRun: boolean; resendUnknown: boolean; hold: Verdict | null },
): Verdict | null {
  const optOut = c.optedOut.get(draft.recipient!) ?? (draft.phone ? c.optedOut.get(draft.phone) : undefined);
  if (optOut) return { status: 'suppressed', reason: 'opted_out', detail: optOut };
  switch (c.prior.statusOf(record.idempotency_key)) {
    case 'accepted':
      return { status: 'duplicate', reason: 'already_sent', detail: 'accepted in an earlier run of this job' };
    case 'unknown':
      if (!c.resendUnknown) return { status: 'duplicate', reason: 'earlier_outcome_unknown', detail: 'an earlier run may have sent it; use --resend-unknown to send again' };
      break;
    case 'failed':
      return { status: 'duplicate', reason: 'failed_earlier', detail: 'failed permanently in an earlier run of this job; tried again after delivery.retry_failed_after' };
    case 'deferred':
      return { status: 'deferred', reason: 'not_before', detail: 'an earlier run of this job was told not to send it before its not_before' };
    case undefined:
      break;
  }
  if (c.dryRun) return { status: 'planned', reason: null };
  return c.hold;
}

async function storedRows(wh: Warehouse, runId: string, sendIds: string[]): Promise<Map<string, PriorSend>> {
  return new Map((await findSendsInRun(wh, runId, sendIds)).map((p) => [p.send_id, p]));
}

function baseRecord(o: DecideOptions, d: Draft, created: Date): SendRecord {
  const { job } = o;
  return {
    send_id: sendId(o.runId, d.rowKey, d.repeatsKey ? d.ordinal : undefined),
    run_id: o.runId,
    job: job.name,
    row_key: d.rowKey,
    recipient: d.recipient,
    idempotency_key: idempotencyKey(job.name, d.rowKey, job.delivery.dedupe, o.runId),
    provider: job.message.provider,
    sender: job.message.sender,
    template: job.message.template?.name ?? null,
    language: job.message.template?.language ?? null,
    variables: d.variables ?? null,
    status: 'pending',
    reason: null,
    error_code: null,
    error_detail: null,
    provider_message_id: null,
    attempts: 0,
    created_at: created,
    sent_at: null,
    not_before: null,
    api: o.api ?? null,
    country: d.country ?? null,
  };
}
