/**
 * Dispatch: decides each rendered row's last pre-send fate (already sent, dry run, past the
 * deadline), then sends the rest through the provider at the sender's rate.
 *
 * The ledger rule (DESIGN "Idempotency and crashes"): a send is durably recorded as in flight
 * (`unknown` / `in_flight`) before its provider call and settled after. A permit is held from
 * the record to the settlement, so after a crash at most `concurrency` sends are `unknown`.
 */
import type { Job } from '../config/job.schema.js';
import { RunAbortedError, errorMessage } from '../errors.js';
import type { RateLimiter } from '../dispatch/limiter.js';
import type { OutboundMessage, Provider, SendOutcome } from '../providers/provider.js';
import { loadPriorSends } from '../store/prior-sends.js';
import { findSendsInRun, type PriorSend } from '../store/sends.store.js';
import type { SendsWriter } from '../store/sends.writer.js';
import type { Draft, RenderedMessage, SendRecord, Verdict } from '../types.js';
import { recordProviderRequest, recordSends } from '../observability/metrics.js';
import { Channel } from '../util/channel.js';
import { Semaphore } from '../util/semaphore.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { quietHours } from './quiet-hours.js';
import { dedupeSince, idempotencyKey, sendId } from './identity.js';

export interface DispatchOptions {
  job: Job;
  runId: string;
  dryRun: boolean;
  /** The run existed before (same run key): rows it already holds are not accounted twice. */
  resumed: boolean;
  /** Send again rows whose earlier outcome is unknown (DESIGN: off unless asked). */
  resendUnknown: boolean;
  wh: Warehouse;
  writer: SendsWriter;
  provider: Provider;
  limiter: RateLimiter;
  /** Aborted → take no new rows, finish what is in flight (SIGTERM). */
  stop?: AbortSignal;
  now?: () => Date;
  /** Attempts per send for retryable errors. */
  maxAttempts?: number;
  /** Identical template/parameter errors after which the run stops: the rest would fail the same way. */
  fixRequestLimit?: number;
  backoffMs?: (attempt: number) => number;
}

/**
 * Sends in flight when the job does not say: half a second of the rate (16 to 1,000). Each send
 * holds its place across the in-flight write, the provider's answer (100-300 ms for Meta) and the
 * settlement, so a fixed window would cap the rate: 64 in flight at 200 ms is 320 msg/s at most.
 * It is also the most sends a crash can leave unknown.
 */
export function defaultConcurrency(ratePerSecond: number): number {
  return Math.min(1000, Math.max(16, Math.ceil(ratePerSecond / 2)));
}

/** Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … capped at 30 s. */
export function defaultBackoff(attempt: number): number {
  return Math.random() * Math.min(30_000, 500 * 2 ** (attempt - 1));
}

interface Sendable {
  record: SendRecord;
  message: RenderedMessage;
  /** The row already exists in this run (resumed): settle it instead of inserting it. */
  existing: boolean;
  timeZone: string | null | undefined;
}

/** Yields settled records in batches; throws RunAbortedError at the end when the run had to stop. */
export async function* dispatch(drafts: AsyncIterable<Draft[]>, o: DispatchOptions): AsyncGenerator<SendRecord[]> {
  const now = o.now ?? (() => new Date());
  const maxAttempts = o.maxAttempts ?? 5;
  const fixRequestLimit = o.fixRequestLimit ?? 3;
  const backoff = o.backoffMs ?? defaultBackoff;
  const hours = quietHours(o.job.delivery, o.job.timezone);
  const outsideHours = (recipient: string, zone: string | null | undefined, at: Date): Verdict | null => {
    const why = hours?.check(recipient, zone, at);
    return why ? { status: 'deferred', reason: 'quiet_hours', detail: why } : null;
  };
  const prior = await loadPriorSends(o.wh, o.job.name, o.runId, dedupeSince(o.job.delivery.dedupe, now()));
  const permits = new Semaphore(o.job.delivery.concurrency ?? defaultConcurrency(o.limiter.ratePerSecond));
  const out = new Channel<SendRecord[]>();
  const inFlight = new Set<Promise<void>>();
  const fixRequests = new Map<string, number>();
  let abort: string | null = null;
  const stopping = () => abort !== null || o.stop?.aborted === true;

  const settle = async (s: Sendable, verdict: Verdict, extra: Partial<SendRecord> = {}) => {
    Object.assign(s.record, { status: verdict.status, reason: verdict.reason, error_code: verdict.errorCode ?? null, error_detail: verdict.detail ?? null }, extra);
    await o.writer.settle([s.record]);
    recordSends([s.record]);
    out.push([s.record]);
  };

  const sendOne = async (s: Sendable): Promise<void> => {
    const { record } = s;
    record.status = 'unknown';
    record.reason = 'in_flight';
    if (s.existing) await o.writer.settle([record]);
    else await o.writer.insert([record]);
    let recipientWaits = 0;
    for (let attempt = record.attempts + 1; ; attempt++) {
      if (stopping()) return settle(s, { status: 'deferred', reason: 'run_aborted', detail: abort ?? 'the run was stopped before this row was sent' });
      const quiet = outsideHours(record.recipient!, s.timeZone, now());
      if (quiet) return settle(s, quiet);
      record.attempts = attempt;
      const outbound: OutboundMessage = { sendId: record.send_id, recipient: record.recipient!, sender: record.sender!, message: s.message, attempt };
      const outcome = await o.limiter.schedule(() => callProvider(o.provider, outbound));
      if (outcome.kind === 'accepted') {
        const held = outcome.detail && outcome.detail !== 'accepted' ? outcome.detail : null;
        return settle(s, { status: 'accepted', reason: held }, { provider_message_id: outcome.providerMessageId, sent_at: now() });
      }
      if (outcome.kind === 'unknown') return settle(s, { status: 'unknown', reason: 'outcome_unknown', detail: outcome.detail });
      const reason = `provider:${outcome.code}`;
      const failed: Verdict = { status: 'failed', reason, errorCode: outcome.code, detail: outcome.detail };
      if (outcome.pauseSenderMs) o.limiter.pause(outcome.pauseSenderMs);
      switch (outcome.action) {
        case 'slow_down':
        case 'retry':
        case 'retry_recipient_later':
          if (outcome.action === 'slow_down') o.limiter.slowDown();
          if (attempt >= maxAttempts) return settle(s, { ...failed, detail: `${outcome.detail} (gave up after ${attempt} attempts)` });
          // Pair-rate limits (Meta 131056) wait 4^X seconds for this recipient only: the permit it
          // holds is one of `concurrency`, so other recipients keep going.
          recipientWaits += outcome.action === 'retry_recipient_later' ? 1 : 0;
          await sleep(outcome.retryAfterMs ?? (outcome.action === 'retry_recipient_later' ? 1000 * 4 ** (recipientWaits - 1) : backoff(attempt)));
          continue;
        case 'defer': {
          const notBefore = new Date(now().getTime() + (outcome.retryAfterMs ?? 86_400_000));
          return settle(s, { status: 'deferred', reason, errorCode: outcome.code, detail: `${outcome.detail}; not before ${notBefore.toISOString()}` });
        }
        case 'fix_request': {
          const seen = (fixRequests.get(reason) ?? 0) + 1;
          fixRequests.set(reason, seen);
          if (seen >= fixRequestLimit) abort ??= `${seen} sends failed with ${reason} (${outcome.detail}): the template or its parameters need fixing; the remaining rows would fail the same way`;
          return settle(s, failed);
        }
        case 'abort':
          abort ??= `${o.provider.name} refused the request with ${reason}: ${outcome.detail}`;
          return settle(s, failed);
        case 'permanent':
          return settle(s, failed);
      }
    }
  };

  const classify = async (batch: Draft[]): Promise<{ settled: SendRecord[]; sendable: Sendable[] }> => {
    const created = now();
    const entries = batch.map((d) => ({ draft: d, record: baseRecord(o, d, created) }));
    const inRun = new Map<string, PriorSend>(
      o.resumed ? (await findSendsInRun(o.wh, o.runId, entries.map((e) => e.record.send_id))).map((p) => [p.send_id, p]) : []);
    const settled: SendRecord[] = [];
    const sendable: Sendable[] = [];
    for (const { draft, record } of entries) {
      const existing = inRun.get(record.send_id);
      if (existing) {
        const resumable = !draft.verdict && ((existing.status === 'deferred' && existing.reason === 'run_aborted') || (existing.status === 'unknown' && o.resendUnknown));
        if (resumable && !o.dryRun) sendable.push({ record: { ...record, attempts: Number(existing.attempts) }, message: draft.message!, existing: true, timeZone: draft.timeZone });
        continue; // already accounted for in this run
      }
      const earlier = draft.verdict ? undefined : prior.statusOf(record.idempotency_key);
      let verdict = draft.verdict;
      if (earlier === 'accepted') verdict = { status: 'duplicate', reason: 'already_sent', detail: 'accepted in an earlier run of this job' };
      if (earlier === 'unknown' && !o.resendUnknown) {
        verdict = { status: 'duplicate', reason: 'earlier_outcome_unknown', detail: 'an earlier run may have sent it; use --resend-unknown to send again' };
      }
      if (!verdict && o.dryRun) verdict = { status: 'planned', reason: null };
      if (!verdict) verdict = outsideHours(record.recipient!, draft.timeZone, created) ?? undefined;
      if (verdict) {
        Object.assign(record, { status: verdict.status, reason: verdict.reason, error_code: verdict.errorCode ?? null, error_detail: verdict.detail ?? null });
        settled.push(record);
      } else {
        sendable.push({ record, message: draft.message!, existing: false, timeZone: draft.timeZone });
      }
    }
    return { settled, sendable };
  };

  const produce = async () => {
    for await (const batch of drafts) {
      if (stopping()) break;
      const { settled, sendable } = await classify(batch);
      if (settled.length > 0) {
        await o.writer.insert(settled);
        recordSends(settled);
        out.push(settled);
      }
      for (const s of sendable) {
        await permits.acquire();
        if (stopping()) {
          permits.release();
          break;
        }
        const task: Promise<void> = sendOne(s).finally(() => {
          permits.release();
          inFlight.delete(task);
        });
        task.catch((err: unknown) => out.fail(err));
        inFlight.add(task);
      }
    }
    await Promise.all(inFlight);
  };

  produce().then(() => out.close(), (err: unknown) => out.fail(err));
  yield* out;
  if (abort) throw new RunAbortedError(abort);
}

/** Adapters turn every failure into an outcome; a throw is a bug, and the request may have gone out. */
async function callProvider(provider: Provider, msg: OutboundMessage): Promise<SendOutcome> {
  const started = performance.now();
  let outcome: SendOutcome;
  try {
    outcome = await provider.send(msg);
  } catch (err) {
    outcome = { kind: 'unknown', detail: `provider adapter error: ${errorMessage(err)}` };
  }
  recordProviderRequest(provider.name, outcome.kind === 'error' ? outcome.action : outcome.kind, (performance.now() - started) / 1000);
  return outcome;
}

function baseRecord(o: DispatchOptions, d: Draft, created: Date): SendRecord {
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
    status: 'unknown',
    reason: null,
    error_code: null,
    error_detail: null,
    provider_message_id: null,
    attempts: 0,
    created_at: created,
    sent_at: null,
  };
}


function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
