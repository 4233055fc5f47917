/**
 * Dispatch: sends the rows decide() queued, at the sender's rate, and hands every answer to the
 * ledger (land.ts), which alone knows what each answer makes of the row. A permit is held from a
 * row's turn to its settlement, so at most `concurrency` rows are ever in flight — and after a
 * crash, at most that many are `unknown`.
 *
 * The run stops taking rows when it is told to (a signal, the job lock lost), when the provider
 * refuses the account (`abort`), when the same template error came back for several rows
 * (`fix_request`), or when the circuit breaker trips: rows not yet at the provider stay `pending`,
 * and the same run key continues them.
 */
import { setMaxListeners } from 'node:events';
import { RunAbortedError, errorMessage } from '../errors.js';
import type { RateLimiter } from '../dispatch/limiter.js';
import type { PairRate } from '../dispatch/pair-rate.js';
import type { OutboundMessage, Provider, SendOutcome } from '../providers/provider.js';
import { recordProviderRequest } from '../observability/metrics.js';
import { Semaphore } from '../util/semaphore.js';
import { sleep } from '../util/sleep.js';
import type { Decided } from './decide.js';
import type { Ledger, Sendable } from './land.js';

export interface DispatchOptions {
  ledger: Ledger;
  provider: Provider;
  /** The sender's limiter (senders.ts): shared by every run sending from the number. */
  limiter: RateLimiter;
  /** Books each recipient's next slot from this sender (WhatsApp's pair rate) before its turn. */
  pairs?: PairRate;
  /** Sends in flight at once (default: defaultConcurrency of the rate). */
  concurrency?: number;
  /** Aborted → take no new rows, settle what is in flight (SIGTERM, the job lock lost). */
  stop?: AbortSignal;
  now?: () => Date;
  /** Attempts per send for retryable errors. */
  maxAttempts?: number;
  /** Rows that failed with the same template/request error after which the run stops. */
  fixRequestLimit?: number;
  backoffMs?: (attempt: number) => number;
  breaker?: { failures: number; withinMs: number };
}

/**
 * Sends in flight when the job does not say: one second of the rate (16 to 1,000). Each send holds
 * its place from its grant (up to batchWindowMs before its slot) across the in-flight write, the
 * provider's answer (100-300 ms for Meta) and the settlement (which waits as long to share a
 * write): up to 0.7 s at 300 ms, so half a second of the rate could cap the rate. It is also the
 * most sends a crash can leave unknown.
 */
export function defaultConcurrency(ratePerSecond: number): number {
  return Math.min(1000, Math.max(16, Math.ceil(ratePerSecond)));
}

/** Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … capped at 30 s. */
export function defaultBackoff(attempt: number): number {
  return Math.random() * Math.min(30_000, 500 * 2 ** (attempt - 1));
}

/** 20 transient failures (network, 5xx, no answer) on distinct rows within 30 s, no other answer between. */
export const DEFAULT_BREAKER = { failures: 20, withinMs: 30_000 } as const;

/**
 * Consecutive transport failures on distinct rows: a provider that cannot be reached is not a
 * reason to fail every row five times over; the run stops and its rows stay pending.
 */
export class CircuitBreaker {
  private streak: { sendId: string; at: number }[] = [];

  constructor(private readonly limit: { failures: number; withinMs: number }, private readonly now: () => number = () => performance.now()) {}

  /** Records a transport failure; true when the breaker trips. */
  failure(sendId: string): boolean {
    const at = this.now();
    this.streak = this.streak.filter((f) => f.at > at - this.limit.withinMs && f.sendId !== sendId);
    this.streak.push({ sendId, at });
    return this.streak.length >= this.limit.failures;
  }

  /** Any answer from the provider itself closes the streak. */
  success(): void {
    this.streak = [];
  }
}

/** Sends every queued row; throws RunAbortedError at the end when the run had to stop. */
export async function dispatch(decided: AsyncIterable<Decided>, o: DispatchOptions): Promise<void> {
  const { ledger } = o;
  const now = o.now ?? (() => new Date());
  const maxAttempts = o.maxAttempts ?? 5;
  const fixRequestLimit = o.fixRequestLimit ?? 3;
  const backoff = o.backoffMs ?? defaultBackoff;
  const breakerLimit = o.breaker ?? DEFAULT_BREAKER;
  const breaker = new CircuitBreaker(breakerLimit);
  const permits = new Semaphore(o.concurrency ?? defaultConcurrency(o.limiter.ratePerSecond));
  const inFlight = new Set<Promise<void>>();
  const fixRequests = new Map<string, Set<string>>();
  let abort: string | null = null;
  let failure: { error: unknown } | null = null;
  // Wakes rows sleeping before a retry as soon as the run stops, so they settle pending at once.
  const halt = new AbortController();
  // Every row sleeping before a retry listens (at most `concurrency`): not a leak to warn about.
  setMaxListeners(0, halt.signal);
  const stopAll = (reason: string) => {
    abort ??= reason;
    halt.abort();
  };
  const onStop = () => halt.abort();
  o.stop?.addEventListener('abort', onStop, { once: true });
  const stopReason = () => abort ?? (o.stop?.aborted ? stopDetail(o.stop) : null);
  const pause = (ms: number) => sleep(ms, halt.signal);

  const transportFailure = (s: Sendable, outcome: SendOutcome) => {
    if (breaker.failure(s.record.send_id)) {
      stopAll(`the provider is not answering: ${breakerLimit.failures} transient failures in a row on distinct rows within ${breakerLimit.withinMs / 1000} s ` +
        `(last: ${describe(outcome)}); rows not sent stay pending: run again with the same run key once the provider answers`);
    }
  };

  const sendOne = async (s: Sendable): Promise<void> => {
    let recipientWaits = 0;
    for (let attempt = s.record.attempts + 1; ; attempt++) {
      const stopped = stopReason();
      if (stopped) return ledger.pending(s, 'run_stopped', stopped);
      const hold = s.holdAt(now());
      if (hold) return ledger.deferred(s, hold);
      const recipient = s.record.recipient!;
      // The recipient's own pace first (one per 6 s after a burst of 45): it waits without
      // holding a place in the sender's window.
      const pairWait = (await o.pairs?.reserve(recipient)) ?? 0;
      if (pairWait > 0) {
        await pause(pairWait);
        if (stopReason()) continue;
      }
      // The row is in flight only once the limiter granted it, and the request starts once that
      // is durable: a crash while it waits for its turn leaves it pending, not unknown.
      // Granted ahead of its slot (the lead), its in-flight write shares a transaction with the
      // writes of that time, and is durable before the slot frees.
      const outcome = await o.limiter.scheduleStart(async (started, grant): Promise<SendOutcome | null> => {
        if (stopReason()) return null;
        await ledger.start(s, attempt, grant.slotInMs);
        const outbound: OutboundMessage = { sendId: s.record.send_id, recipient, sender: s.record.sender!, message: s.message, attempt, api: s.record.api };
        // Only the Marketing Messages API takes a TTL: the zone arithmetic stays off other sends.
        const ttl = s.record.api === 'marketing_messages' ? s.secondsLeft?.(now()) : null;
        if (ttl != null) outbound.ttlSeconds = ttl;
        // The window counts the message when its request is really written (the adapter calls
        // `departed`), after its slot freed (now, or a few ms on when the write beat it), or when
        // the batch carrying it leaves.
        outbound.departed = grant.departed;
        if (o.provider.batches) outbound.departing = () => started(true);
        else {
          const slot = started(true);
          if (slot) await slot;
        }
        return callProvider(o.provider, outbound);
      });
      if (!outcome) continue; // stopped while waiting: the loop's first check settles it
      if (outcome.kind === 'accepted') {
        breaker.success();
        return ledger.accepted(s, outcome);
      }
      if (outcome.kind === 'unknown') {
        transportFailure(s, outcome);
        // A provider that refuses a reused id takes the same send again safely (Infobip).
        if (o.provider.resendsSafely && attempt < maxAttempts && !stopReason()) {
          await ledger.pending(s, 'retrying', outcome.detail);
          await pause(backoff(attempt));
          continue;
        }
        return ledger.unknown(s, outcome.detail);
      }
      if (outcome.action === 'retry') transportFailure(s, outcome);
      else if (outcome.action !== 'slow_down' && outcome.action !== 'retry_recipient_later') breaker.success();
      if (outcome.pauseSenderMs) o.limiter.pause(outcome.pauseSenderMs);
      switch (outcome.action) {
        case 'slow_down':
        case 'retry':
        case 'retry_recipient_later': {
          if (outcome.action === 'slow_down') o.limiter.slowDown();
          if (attempt >= maxAttempts) {
            // Not the recipient's doing, so not failed: pending, for the resumed or the next run.
            return ledger.pending(s, `provider:${outcome.code}`, `${outcome.detail} (gave up after ${attempt} attempts in this run)`, outcome.code);
          }
          await ledger.pending(s, 'retrying', outcome.detail, outcome.code);
          // Pair-rate limits (Meta 131056) wait 4^X seconds for this recipient only: the permit it
          // holds is one of `concurrency`, so other recipients keep going.
          recipientWaits += outcome.action === 'retry_recipient_later' ? 1 : 0;
          await pause(outcome.retryAfterMs ?? (outcome.action === 'retry_recipient_later' ? 1000 * 4 ** (recipientWaits - 1) : backoff(attempt)));
          continue;
        }
        case 'defer':
          return ledger.deferred(s, { status: 'deferred', reason: `provider:${outcome.code}`, errorCode: outcome.code, detail: outcome.detail },
            new Date(now().getTime() + (outcome.retryAfterMs ?? 86_400_000)));
        case 'fix_request': {
          const rows = fixRequests.get(outcome.code) ?? new Set<string>();
          fixRequests.set(outcome.code, rows.add(s.record.send_id));
          if (rows.size >= fixRequestLimit) {
            stopAll(`${rows.size} rows failed with provider:${outcome.code} (${outcome.detail}): the template or its parameters need fixing; the remaining rows would fail the same way`);
          }
          return ledger.failed(s, outcome);
        }
        case 'abort':
          stopAll(`${o.provider.name} refused the request with provider:${outcome.code}: ${outcome.detail}`);
          return ledger.pending(s, 'run_stopped', abort!, outcome.code);
        case 'permanent':
        case 'invalid_row':
          return ledger.failed(s, outcome);
      }
    }
  };

  const leavePending = async (rows: readonly Sendable[]) => {
    const why = stopReason() ?? 'the run stopped before this row was sent';
    await Promise.all(rows.map((s) => ledger.pending(s, 'run_stopped', why)));
  };

  for await (const batch of decided) {
    if (failure) break;
    await Promise.all([ledger.decided(batch.settled, false), ledger.decided(batch.resettled, true)]);
    for (const [i, s] of batch.sendable.entries()) {
      if (stopReason() || failure) {
        await leavePending(batch.sendable.slice(i));
        break;
      }
      await permits.acquire();
      const task: Promise<void> = sendOne(s).catch((error: unknown) => {
        failure ??= { error };
      }).finally(() => {
        permits.release();
        inFlight.delete(task);
      });
      inFlight.add(task);
    }
    if (stopReason()) break;
  }
  await Promise.all(inFlight);
  o.stop?.removeEventListener('abort', onStop);
  const failed = failure as { error: unknown } | null; // set by the send tasks
  if (failed) throw failed.error;
  const stopped = stopReason();
  if (abort) throw new RunAbortedError(abort);
  if (stopped) throw new RunStopped(stopped);
}

/** The run was told to stop (a signal, a shutdown, the job lock lost): not the provider's doing. */
export class RunStopped extends RunAbortedError {
  constructor(message: string) {
    super(message);
    this.name = 'RunStopped';
  }
}

function stopDetail(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason.message;
  return 'stopped by a signal before the segment was finished; run again with the same run key to continue';
}

function describe(outcome: SendOutcome): string {
  return outcome.kind === 'error' ? `provider:${outcome.code} ${outcome.detail}` : outcome.kind === 'unknown' ? outcome.detail : 'accepted';
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
