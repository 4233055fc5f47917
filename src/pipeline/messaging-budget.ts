/**
 * The messaging limit (Meta: unique users a business portfolio may reach with business-initiated
 * messages in a rolling 24 h; 250, 2,000, 10,000, 100,000 or unlimited). A run never takes the
 * portfolio past it: a recipient herald messaged from the portfolio in the last 24 h is free, a new
 * one takes one unit, and when none is left the row is deferred (`messaging_limit`) or, before
 * the first send, the whole run is refused (`delivery.over_messaging_limit`).
 *
 * Runs of one portfolio under a finite limit take their budget in turn (a warehouse lock held
 * from the budget's opening until its run's sends have settled): each reads what the ones before
 * it sent, so two jobs, processes or parts of a run cannot both spend the same remainder.
 */
import type { Job } from '../config/job.schema.js';
import type { Logger } from '../log.js';
import type { Provider } from '../providers/provider.js';
import { StringHashSet } from '../util/compact-set.js';
import { sleep } from '../util/sleep.js';
import type { HeldLock, Warehouse } from '../warehouse/warehouse.js';

export const DAY_MS = 86_400_000;
/** How often a run waiting for another run of the portfolio to finish its budget asks again. */
const LOCK_POLL_MS = 1000;

/** The limit as the provider or the config says it: null is unlimited. */
export interface MessagingLimit {
  limit: number | null;
  source: string;
}

/** What the run's summary says of the limit. */
export interface BudgetReport {
  /** Unique users per rolling 24 h; null: unlimited, or not known. */
  limit: number | null;
  source: string;
  /** Unique recipients herald messaged from the portfolio in the 24 h before the run. */
  used_24h: number;
  /** Recipients of this run not among them (planned, in a dry run). */
  new_recipients: number;
  /** used_24h + new_recipients: unique recipients in the next 24 h. */
  next_24h: number;
  /** Rows deferred because none was left. */
  deferred: number;
}

export interface MessagingBudget {
  /** True when the recipient may be messaged: already counted, or one unit taken for them. */
  take(recipient: string): boolean;
  /** Whether the recipient was messaged from the portfolio in the 24 h before the run. */
  counted(recipient: string): boolean;
  /** Units left (Infinity when unlimited). */
  readonly left: number;
  report(): BudgetReport;
  /** Frees the portfolio for the next run; call once the run's sends have settled. */
  close(): Promise<void>;
}

export interface BudgetScope {
  provider: string;
  /** The portfolio's numbers (config `portfolio_senders`); null: every sender of the provider. */
  senders: readonly string[] | null;
}

/**
 * The run's budget: waits for the portfolio's turn (a finite limit, a real run), then reads whom
 * herald messaged from it in the last 24 h. Returns null when the run is not business-initiated
 * (free text inside the customer's window), or the limit is unknown and nothing asks for counts.
 */
export async function openBudget(o: {
  wh: Warehouse; job: Job; provider: Provider; scope: BudgetScope; dryRun: boolean; now: Date; stop?: AbortSignal; logger: Logger;
}): Promise<MessagingBudget | null> {
  if (o.job.message.template === undefined) return null;
  const known = await o.provider.messagingLimit?.(o.job.message.sender).catch((err: unknown) => {
    o.logger.warn({ err: String(err) }, 'could not read the sender\'s messaging limit; the run is not held to one');
    return undefined;
  });
  if (!known && !o.dryRun) return null;
  const limit = known?.limit ?? null;
  const lock = limit !== null && !o.dryRun ? await portfolioTurn(o.wh, o.scope, o.stop) : null;
  try {
    const used = await recentRecipients(o.wh, o.scope, new Date(o.now.getTime() - DAY_MS));
    return budget(limit, known?.source ?? 'not known', used, lock);
  } catch (err) {
    await lock?.release();
    throw err;
  }
}

function budget(limit: number | null, source: string, used: { set: StringHashSet; size: number }, lock: HeldLock | null): MessagingBudget {
  let fresh = 0;
  let deferred = 0;
  const left = () => (limit === null ? Infinity : Math.max(0, limit - used.size - fresh));
  return {
    take(recipient) {
      if (used.set.has(recipient)) return true;
      if (left() <= 0) {
        deferred++;
        return false;
      }
      // Not added to the set: normalize lets each recipient through once per run (duplicate_in_segment),
      // and a 2M-row dry run would hold them all for nothing.
      fresh++;
      return true;
    },
    counted: (recipient) => used.set.has(recipient),
    get left() {
      return left();
    },
    report: () => ({ limit, source, used_24h: used.size, new_recipients: fresh, next_24h: used.size + fresh, deferred }),
    close: async () => {
      await lock?.release();
    },
  };
}

/** Unique recipients of template sends from the scope's senders since `since` that may have reached them. */
export async function recentRecipients(wh: Warehouse, scope: BudgetScope, since: Date): Promise<{ set: StringHashSet; size: number }> {
  const set = new StringHashSet();
  let size = 0;
  const stream = await wh.stream(
    'SELECT DISTINCT recipient FROM herald.sends WHERE provider = $1 AND template IS NOT NULL AND recipient IS NOT NULL ' +
    "AND status IN ('accepted', 'unknown', 'in_flight') AND coalesce(sent_at, created_at) > $2::timestamptz " +
    'AND ($3::text[] IS NULL OR sender IN (SELECT unnest($3::text[])))',
    [scope.provider, since, scope.senders]);
  for await (const rows of stream.chunks) {
    for (const r of rows) if (set.add(r.recipient as string)) size++;
  }
  return { set, size };
}

/** The portfolio's budget lock, waited for (each run of the portfolio in turn). */
async function portfolioTurn(wh: Warehouse, scope: BudgetScope, stop?: AbortSignal): Promise<HeldLock> {
  const name = `herald:budget:${scope.provider}:${scope.senders ? [...scope.senders].sort().join(',') : '*'}`;
  for (;;) {
    const lock = await wh.tryLock(name);
    if (lock) return lock;
    if (stop?.aborted) throw stop.reason instanceof Error ? stop.reason : new Error('stopped while waiting for the portfolio\'s messaging budget');
    await sleep(LOCK_POLL_MS, stop);
  }
}
