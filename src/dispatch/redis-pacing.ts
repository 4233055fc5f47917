/**
 * A sender's pacing shared by every process through Redis (`HERALD_REDIS_URL`): its sliding window
 * of grants, its pauses (Meta 131057) and its recipients' pair-rate bookings live in Redis, so N
 * processes sending from one number together stay under its cap.
 *
 * Each process still paces its own starts with a local limiter at the cap (spread over the second,
 * never more than the cap itself); a start then needs a place in the shared window, which one Lua
 * script grants atomically against Redis's own clock (no process's clock matters). A sliding log
 * (a sorted set of grant times) rather than rate-limiter-flexible's Redis limiter: that one counts
 * fixed windows, which let twice the cap through across a window's edge (bench/redis-window.ts).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RunAbortedError, errorMessage } from '../errors.js';
import { QUIET_MS, SlidingWindowLimiter, startingWhenFree, windowFor, type RateLimiter, type StartingTask } from './limiter.js';
import { sleep } from '../util/sleep.js';
import { PAIR_BURST, PAIR_INTERVAL_MS, type PairRate } from './pair-rate.js';

/**
 * KEYS: window (sorted set), pause (string), slowed cap (string). ARGV: cap, window ms, member,
 * pause ms. With pause ms > 0 it only extends the sender's pause. Otherwise it grants (0) or
 * answers how many ms until a grant could succeed, under the lower of the caller's cap and the
 * cap a process that met a throughput error left for everyone (slowDown).
 */
const WINDOW_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = math.min(tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[3]) or ARGV[1]))
local window = tonumber(ARGV[2])
local pauseMs = tonumber(ARGV[4])
local pausedUntil = tonumber(redis.call('GET', KEYS[2]) or '0')
if pauseMs > 0 then
  if now + pauseMs > pausedUntil then redis.call('SET', KEYS[2], now + pauseMs, 'PX', pauseMs + 1000) end
  return 0
end
if now < pausedUntil then return pausedUntil - now end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < cap then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], count - cap, count - cap, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now + 1)
`;

/**
 * KEYS: window. ARGV: member. A granted start, stamped again when it really starts (after the
 * ledger's in-flight write): the window must count starts, and that write can take 100 ms and more.
 */
const RESTAMP_SCRIPT = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
end
return 0
`;

/** KEYS: the recipient's theoretical arrival time. ARGV: interval ms, burst. Answers ms to wait. */
const PAIR_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now + 1000)
return math.max(0, tat - (tonumber(ARGV[2]) - 1) * interval - now)
`;

interface PacingCommands {
  heraldWindow(window: string, pause: string, slowed: string, cap: number, windowMs: number, member: string, pauseMs: number): Promise<number>;
  heraldPair(key: string, intervalMs: number, burst: number): Promise<number>;
  heraldRestamp(window: string, member: string): Promise<number>;
}

export class RedisPacing {
  private readonly redis: Redis & PacingCommands;
  private readonly process = randomUUID();
  private seq = 0;

  constructor(private readonly url: string, private readonly prefix = 'herald') {
    // A command fails after a couple of reconnection attempts instead of waiting forever: a run
    // that cannot reach Redis stops with its rows pending rather than hanging.
    this.redis = new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 3000, lazyConnect: true }) as Redis & PacingCommands;
    this.redis.on('error', () => undefined); // surfaced by the commands that fail
    this.redis.defineCommand('heraldWindow', { numberOfKeys: 3, lua: WINDOW_SCRIPT });
    this.redis.defineCommand('heraldPair', { numberOfKeys: 1, lua: PAIR_SCRIPT });
    this.redis.defineCommand('heraldRestamp', { numberOfKeys: 1, lua: RESTAMP_SCRIPT });
  }

  /** Connects, or says which URL could not be reached. */
  async ready(): Promise<void> {
    try {
      if (this.redis.status === 'wait') await this.redis.connect();
      await this.redis.ping();
    } catch (err) {
      throw new RunAbortedError(`Redis at ${redactUrl(this.url)} (HERALD_REDIS_URL) is not reachable: ${errorMessage(err)}; nothing was sent`, { cause: err });
    }
  }

  limiter(key: string, rate: number, windowMs: number): RateLimiter {
    return new RedisWindowLimiter(this, this.keyOf(key), rate, windowMs);
  }

  pairs(key: string): PairRate {
    const base = `${this.keyOf(key)}:pair:`;
    return { reserve: (recipient) => this.call(() => this.redis.heraldPair(`${base}${recipient}`, PAIR_INTERVAL_MS, PAIR_BURST)) };
  }

  /** A name for the next grant, unique across processes. */
  nextMember(): string {
    return `${this.process}:${++this.seq}`;
  }

  /** 0 when `member` is granted, else ms until a grant could succeed. */
  grant(key: string, cap: number, windowMs: number, member: string): Promise<number> {
    return this.call(() => this.redis.heraldWindow(`${key}:window`, `${key}:pause`, `${key}:slowed`, cap, windowMs, member, 0));
  }

  /** The granted `member` really started now. */
  restamp(key: string, member: string): Promise<number> {
    return this.call(() => this.redis.heraldRestamp(`${key}:window`, member));
  }

  pause(key: string, ms: number): Promise<number> {
    return this.call(() => this.redis.heraldWindow(`${key}:window`, `${key}:pause`, `${key}:slowed`, 1, 1, '', Math.ceil(ms)));
  }

  /** Every process sends under `cap` (at least 1/s) for `ms`, after which each one's own recovery rules. */
  async slowed(key: string, cap: number, ms: number): Promise<void> {
    await this.call(async () => (await this.redis.set(`${key}:slowed`, String(Math.max(1, Math.floor(cap))), 'PX', Math.ceil(ms)), 0));
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private keyOf(key: string): string {
    // {…}: both keys of a sender hash to one Redis Cluster slot.
    return `${this.prefix}:sender:{${key}}`;
  }

  private async call(command: () => Promise<number>): Promise<number> {
    try {
      return Number(await command());
    } catch (err) {
      throw new RunAbortedError(`Redis (HERALD_REDIS_URL) failed while pacing: ${errorMessage(err)}; rows not sent stay pending`, { cause: err });
    }
  }
}

/**
 * The local limiter spreads this process's starts; each granted start then waits, in order, for
 * a place in the sender's shared window. One grant is asked for at a time, so a process that is
 * over its share sleeps until Redis says a place frees up, rather than asking in a loop.
 */
class RedisWindowLimiter implements RateLimiter {
  private readonly local: SlidingWindowLimiter;
  private readonly waiting: { member: string; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private granting = false;

  constructor(private readonly redis: RedisPacing, private readonly key: string, rate: number, private readonly windowMs: number) {
    this.local = new SlidingWindowLimiter(rate, { windowMs });
  }

  get ratePerSecond(): number {
    return this.local.ratePerSecond;
  }

  get currentRate(): number {
    return this.local.currentRate;
  }

  get queued(): number {
    return this.local.queued + this.waiting.length;
  }

  setRate(rate: number): void {
    this.local.setRate(rate);
  }

  schedule<T>(task: () => Promise<T>): Promise<T> {
    return this.scheduleStart(startingWhenFree(task));
  }

  /**
   * The shared window's grant comes from Redis, with no lead: the task's slot is free when it runs.
   * The grant is stamped again when the local limiter stamps the task's real start.
   */
  scheduleStart<T>(task: StartingTask<T>): Promise<T> {
    const member = this.redis.nextMember();
    const restamp = () => {
      this.redis.restamp(this.key, member).catch(() => undefined); // the grant's own stamp stands
    };
    return this.local.scheduleStart(async (started, grant) => {
      await new Promise<void>((resolve, reject) => {
        this.waiting.push({ member, resolve, reject });
        void this.grantAll();
      });
      return task(started, { slotInMs: 0, departed: grant.departed });
    }, restamp);
  }

  /** This process slows down, and the others with it until this one starts to recover. */
  slowDown(): void {
    this.local.slowDown();
    this.redis.slowed(this.key, this.local.currentRate, QUIET_MS).catch(() => undefined); // the local step holds regardless
  }

  pause(ms: number): void {
    this.local.pause(ms);
    this.redis.pause(this.key, ms).catch(() => undefined); // the local pause holds regardless
  }

  private async grantAll(): Promise<void> {
    if (this.granting) return;
    this.granting = true;
    try {
      while (this.waiting.length > 0) {
        let wait: number;
        try {
          const { cap, windowMs } = windowFor(this.local.currentRate, this.windowMs);
          wait = await this.redis.grant(this.key, cap, Math.ceil(windowMs), this.waiting[0]!.member);
        } catch (err) {
          for (const w of this.waiting.splice(0)) w.reject(err);
          return;
        }
        if (wait === 0) this.waiting.shift()!.resolve();
        else await sleep(wait);
      }
    } finally {
      this.granting = false;
    }
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
