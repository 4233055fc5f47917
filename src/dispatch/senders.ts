/**
 * Senders: a WhatsApp number's throughput belongs to the number, whichever job or process sends
 * from it (Meta answers 130429 the moment the number goes over). So pacing is per sender:
 *
 * - one limiter per (provider, sender) in the process, shared by every run that sends from it;
 *   a job's `delivery.rate_per_second` only asks for at most that much of it;
 * - the sender's cap: `providers.<p>.senders.<sender>.rate_per_second`, else what the provider
 *   says the number may do (Meta's throughput level, read at run start), else the provider's
 *   `rate_per_second`; never above the provider's hard maximum (ADA 5/s);
 * - across processes: with Redis (`HERALD_REDIS_URL`) the sender's window lives there, so N
 *   processes together stay under the cap; without it, a lease on the warehouse (a PostgreSQL
 *   advisory lock) lets one process pace a sender at a time, and the others wait for it;
 * - the pair rate (one message per recipient per 6 s, bursts of 45) is booked ahead of time.
 */
import type { Problem } from '../errors.js';
import { watchQueue } from '../observability/metrics.js';
import type { Logger } from '../log.js';
import type { Provider } from '../providers/provider.js';
import type { HeldLock, Warehouse } from '../warehouse/warehouse.js';
import { SlidingWindowLimiter, startingWhenFree, type RateLimiter, type StartingTask } from './limiter.js';
import { LocalPairRate, type PairRate } from './pair-rate.js';
import { sleep } from '../util/sleep.js';
import type { RedisPacing } from './redis-pacing.js';

/**
 * Starts are kept under the cap in any window of 1 s plus this: requests whose latency differs by
 * less than it still arrive under the cap in every 1 s window at the provider (bench/sender-pacing).
 */
export const DEFAULT_ARRIVAL_MARGIN_MS = 40;
/**
 * How long a send may be granted before its slot frees, and a settlement wait for the write that
 * carries it (land.ts): the time of about 16 messages at the rate, from the warehouse's floor
 * (Warehouse.minBatchWindowMs: 15 ms, 60 on DuckDB) to 200 ms. The ledger's
 * in-flight write then happens while the send waits, so the slot turns over every window instead
 * of every window plus the write (bench/sender-pacing), and the in-flight rows and answers of that
 * time share one transaction: at 80/s one write per ~200 ms instead of two per message. At high
 * rates writes fill by size anyway, and a long window made them big enough (hundreds of rows) to
 * hold the event loop while requests stamped before it waited to leave: bursts at the provider.
 */
export function batchWindowMs(ratePerSecond: number, floorMs = 15): number {
  return Math.min(200, Math.max(floorMs, Math.round(16_000 / ratePerSecond)));
}
/** How often a process waiting for a sender's lease asks again. */
const LEASE_POLL_MS = 1000;

export interface SendersOptions {
  /** The sender's window and pair bookings in Redis, shared by every process that uses it. */
  redis?: RedisPacing;
  /** See DEFAULT_ARRIVAL_MARGIN_MS. */
  arrivalMarginMs?: number;
  logger?: Logger;
}

export interface SenderCap {
  rate: number;
  /** Where the rate came from, for the log: `config`, `meta throughput HIGH`, `default`. */
  source: string;
}

/** What one run paces with; `close()` when the run ends. */
export interface RunPacing {
  /** The sender's limiter, under the job's own rate when it asks for less. */
  limiter: RateLimiter;
  pairs: PairRate;
  cap: SenderCap;
  /** Aborts when the sender's lease is lost: another process may be pacing the sender now. */
  lost: AbortSignal;
  close(): Promise<void>;
}

interface SharedSender {
  limiter: RateLimiter;
  pairs: PairRate;
  users: number;
  lease: HeldLock | null;
  leaseTaken: Promise<HeldLock | null> | null;
  lost: AbortController;
}

/**
 * The sender's cap from what is known before asking the provider: the config's per-sender rate,
 * else the measured rate, else the provider's default; never above the provider's maximum, nor
 * above what the provider measured.
 */
export function senderCap(provider: Pick<Provider, 'name' | 'defaultRatePerSecond' | 'senderRates' | 'maxRatePerSecond'>, sender: string, measured?: SenderCap): SenderCap {
  const configured = provider.senderRates?.[sender];
  let cap: SenderCap = configured !== undefined ? { rate: configured, source: `providers.${provider.name}.senders` }
    : measured ?? { rate: provider.defaultRatePerSecond, source: `providers.${provider.name}.rate_per_second` };
  if (measured && measured.rate < cap.rate) cap = measured;
  if (provider.maxRatePerSecond !== undefined && provider.maxRatePerSecond < cap.rate) cap = { rate: provider.maxRatePerSecond, source: `${provider.name} maximum` };
  return cap;
}

/**
 * A job asking for more than the provider can ever take (ADA: 5/s) is wrong, not merely capped:
 * `validate` and `run` say so before anything is sent.
 */
export function jobRateProblem(provider: Pick<Provider, 'name' | 'maxRatePerSecond'>, jobRate: number | undefined, file: string): Problem | null {
  if (jobRate === undefined || provider.maxRatePerSecond === undefined || jobRate <= provider.maxRatePerSecond) return null;
  return {
    file, path: 'delivery.rate_per_second', message: `${jobRate} messages per second is more than ${provider.name} accepts from one sender (${provider.maxRatePerSecond}/s)`,
    hint: `set delivery.rate_per_second to ${provider.maxRatePerSecond} or less, or leave it out to send at the sender's cap`,
  };
}

/** `meta:106540352242922`: provider names hold no colon, so the pair reads back unambiguously. */
function senderKey(provider: string, sender: string): string {
  return `${provider}:${sender}`;
}

/** The process's senders: with HERALD_REDIS_URL set, paced through Redis (ioredis is loaded only then: ~145 ms of a start). */
export async function createSenders(env: NodeJS.ProcessEnv, logger?: Logger): Promise<SenderRegistry> {
  const url = env.HERALD_REDIS_URL?.trim();
  const redis = url ? new (await import('./redis-pacing.js')).RedisPacing(url) : undefined;
  return new SenderRegistry({ ...(redis ? { redis } : {}), ...(logger ? { logger } : {}) });
}

export class SenderRegistry {
  private readonly senders = new Map<string, SharedSender>();
  private readonly windowMs: number;

  constructor(private readonly o: SendersOptions = {}) {
    this.windowMs = 1000 + (o.arrivalMarginMs ?? DEFAULT_ARRIVAL_MARGIN_MS);
  }

  /**
   * The pacing of one run from `sender`. Without Redis, and with a warehouse that other processes
   * share, it waits for the sender's lease first (until `stop` aborts).
   */
  async open(r: { provider: Provider; sender: string; jobRate?: number | undefined; wh?: Warehouse; stop?: AbortSignal }): Promise<RunPacing> {
    await this.o.redis?.ready();
    const measured = await r.provider.senderThroughput?.(r.sender).catch((err: unknown) => {
      this.o.logger?.warn({ provider: r.provider.name, sender: r.sender, err: String(err) }, 'could not read the sender\'s throughput; using the configured rate');
      return undefined;
    });
    const cap = senderCap(r.provider, r.sender, measured);
    const key = senderKey(r.provider.name, r.sender);
    let shared = this.senders.get(key);
    if (!shared) {
      const limiter = this.o.redis?.limiter(key, cap.rate, this.windowMs) ?? new SlidingWindowLimiter(cap.rate, { windowMs: this.windowMs, leadMs: batchWindowMs(cap.rate, r.wh?.minBatchWindowMs) });
      shared = { limiter, pairs: this.o.redis?.pairs(key) ?? new LocalPairRate(), users: 0, lease: null, leaseTaken: null, lost: new AbortController() };
      this.senders.set(key, shared);
      const { limiter: watched } = shared;
      watchQueue(r.provider.name, r.sender, () => watched.queued);
    } else if (shared.limiter.ratePerSecond !== cap.rate) {
      shared.limiter.setRate(cap.rate); // the number's tier changed, or the config did
    }
    shared.users++;
    const opened = shared;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      // The limiter stays: the next run from this sender must see the starts of the last second.
      if (--opened.users > 0) return;
      const lease = opened.lease ?? (await opened.leaseTaken?.catch(() => null));
      opened.lease = null;
      opened.leaseTaken = null;
      await lease?.release();
    };
    try {
      if (!this.o.redis && r.wh?.kind === 'postgres') await this.lease(opened, key, r.wh, r.stop);
    } catch (err) {
      await close();
      throw err;
    }
    const limiter = r.jobRate !== undefined && r.jobRate < cap.rate ? new UnderSender(new SlidingWindowLimiter(r.jobRate, { windowMs: this.windowMs }), shared.limiter) : shared.limiter;
    if (r.jobRate !== undefined && r.jobRate > cap.rate) {
      this.o.logger?.warn({ provider: r.provider.name, sender: r.sender, asked: r.jobRate, cap: cap.rate, source: cap.source }, 'the job asks for more than the sender may send: paced at the sender\'s cap');
    }
    return { limiter, pairs: shared.pairs, cap, lost: shared.lost.signal, close };
  }

  /** Closes the Redis connection, if any. */
  async close(): Promise<void> {
    await this.o.redis?.close();
  }

  /** The shared limiter of a sender that has been opened (for tests and metrics). */
  limiterOf(provider: string, sender: string): RateLimiter | undefined {
    return this.senders.get(senderKey(provider, sender))?.limiter;
  }

  /** The sender's lease on the shared warehouse: one process paces a sender at a time. */
  private async lease(s: SharedSender, key: string, wh: Warehouse, stop?: AbortSignal): Promise<void> {
    s.leaseTaken ??= (async () => {
      const name = `herald:sender:${key}`;
      let said = false;
      for (;;) {
        const held = await wh.tryLock(name);
        if (held) {
          s.lease = held;
          held.lost.addEventListener('abort', () => {
            // The runs pacing under this lease stop; the next run takes the lease again.
            s.lost.abort(new Error(`the lease on sender ${key} was lost (the warehouse connection dropped); rows not sent stay pending`));
            s.lost = new AbortController();
            s.lease = null;
            s.leaseTaken = null;
          }, { once: true });
          return held;
        }
        if (!said) this.o.logger?.info({ sender: key }, 'another process is sending from this sender: waiting for its lease');
        said = true;
        if (stop?.aborted) return null;
        await sleep(LEASE_POLL_MS, stop);
      }
    })();
    const held = await s.leaseTaken;
    if (!held) {
      s.leaseTaken = null;
      throw new LeaseNotTaken('stopped while waiting for the sender\'s lease: nothing was sent');
    }
  }
}

/** The run was stopped before the sender's lease came free. */
export class LeaseNotTaken extends Error {}

/** A job's own rate under its sender's: a start needs a place in both windows. */
class UnderSender implements RateLimiter {
  constructor(private readonly run: RateLimiter, private readonly sender: RateLimiter) {}

  get ratePerSecond(): number {
    return Math.min(this.run.ratePerSecond, this.sender.ratePerSecond);
  }

  get currentRate(): number {
    return Math.min(this.run.currentRate, this.sender.currentRate);
  }

  get queued(): number {
    return this.run.queued;
  }

  setRate(rate: number): void {
    this.run.setRate(rate);
  }

  schedule<T>(task: () => Promise<T>): Promise<T> {
    return this.scheduleStart(startingWhenFree(task));
  }

  /**
   * The job's limiter grants only free slots (no lead), so its start is stamped with the sender's;
   * the task has the sender's grant (how long before its slot frees).
   */
  scheduleStart<T>(task: StartingTask<T>): Promise<T> {
    return this.run.scheduleStart((runStarted, runGrant) => this.sender.scheduleStart((senderStarted, grant) => task((atDeparture) => {
      const slot = senderStarted(atDeparture);
      return slot ? slot.then(() => runStarted(atDeparture)) : runStarted(atDeparture);
    }, {
      slotInMs: grant.slotInMs,
      departed: () => {
        grant.departed();
        runGrant.departed();
      },
    })));
  }

  /** The number refused: this run slows down from the rate it really sends at, and so does the sender. */
  slowDown(): void {
    this.run.slowDown();
    this.sender.slowDown();
  }

  pause(ms: number): void {
    this.sender.pause(ms);
  }
}
