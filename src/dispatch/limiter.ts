/**
 * Pacing: one limiter per (provider, sender). Two rules, both on the moments tasks really start:
 * - a sliding 1-second window: a task starts only while fewer than `rate` started in the last
 *   second, so no window ever holds more, even after the event loop stalls;
 * - a token bucket refilled at the rate, holding at most 50 ms worth (at least two): starts are
 *   spread over the second instead of released a window at a time, so the variance of network
 *   latency cannot bunch them into more than `rate` arrivals per second at the provider (with
 *   whole windows released at once, a fake Meta counted 27 arrivals in a second at 20/s).
 *
 * The window can be longer than a second (`windowMs`): a provider counts arrivals, and arrivals
 * are starts shifted by a latency that varies; starts kept under the cap in any 1 s + J window
 * arrive under it in any 1 s window whenever the latency varies by less than J.
 *
 * The rate adapts: `slowDown()` on throughput errors (Meta 130429, HTTP 429) lowers it by a small
 * step (one step per second however many requests came back refused: they are one overshoot),
 * `pause()` stops starts for a while (Meta 131057), and without new errors it climbs back to the
 * configured rate, never above it. p-queue 9's strict mode holds a fixed rate just as exactly
 * (bench/pacing.ts measures both) but cannot change its rate at runtime; Bottleneck overshoots.
 */
/**
 * Called by a task right before its real start. Undefined: go now, in the same tick. A promise: the
 * slot frees a few ms on (the lead); go when it resolves. The start is stamped when the task goes,
 * or, with `atDeparture`, when the task calls its grant's `departed()`: a request may wait for a
 * connection or a busy event loop after it was handed to the HTTP client, and a start stamped
 * before it really leaves lets the next ones leave early (at the task's end at the latest).
 */
export type Started = (atDeparture?: boolean) => Promise<void> | undefined;

/** What a grant tells its task. */
export interface Grant {
  /** How far off its slot was when granted (0: free now). */
  slotInMs: number;
  /** The request really left (written to its connection): the start of `started(true)` is stamped now. */
  departed(): void;
}

/** A task that does some work before its real start, then calls `started()` (see scheduleStart). */
export type StartingTask<T> = (started: Started, grant: Grant) => Promise<T>;

/**
 * `schedule` in terms of `scheduleStart`: the task starts as soon as its slot is free, in the same
 * tick as its stamp when no wait is needed.
 */
export function startingWhenFree<T>(task: () => Promise<T>): StartingTask<T> {
  return (started) => {
    const slot = started();
    return slot ? slot.then(task) : task();
  };
}

export interface RateLimiter {
  /** The configured rate: never exceeded. */
  readonly ratePerSecond: number;
  /** Changes the configured rate (the sender's tier changed); a slowed-down rate stays under it. */
  setRate(ratePerSecond: number): void;
  /** The rate in force now (lower after throughput errors). */
  readonly currentRate: number;
  /** Tasks waiting for a start. */
  readonly queued: number;
  /** Runs `task` once the window has room; resolves with its result. */
  schedule<T>(task: () => Promise<T>): Promise<T>;
  /**
   * Like schedule, for a task that does some work before its real start (the ledger's in-flight
   * write), then awaits `started()` and starts right after: the window counts the real start (the
   * request's departure, with `started(true)`), and holds the slot from the grant until then. With a lead (LimiterOptions.leadMs) the task may be
   * granted that much before its slot frees, and `started()` resolves when it does: the work
   * overlaps the wait instead of adding to it (the grant says how long it has: the ledger batches the
   * in-flight writes of that time). A task that ends without calling it gives the slot back.
   */
  scheduleStart<T>(task: StartingTask<T>): Promise<T>;
  /** Lowers the current rate by a step (at least 1/s); it climbs back while no further errors come. */
  slowDown(): void;
  /** No starts for `ms`. */
  pause(ms: number): void;
}

/** One second plus 1 ms: a start never lands exactly a second after another, whatever the clock's jitter. */
export const WINDOW_MS = 1001;
/**
 * A throughput error lowers the rate at most once a second, by the errors of the last second (the
 * provider refuses each request over its cap, so they count the excess), at least 5% and at most
 * half: one 130429 from a jittery second costs 5%, a rate far above the number's finds it in a
 * few seconds.
 */
const SLOW_DOWN_MIN_STEP = 0.05;
const SLOW_DOWN_EVERY_MS = 1000;
/** After a slow-down, the rate grows by this share of the configured rate per quiet second. */
const RECOVERY_STEP = 0.05;
/** Recovery begins after this long without a throughput error. */
export const QUIET_MS = 2000;

export interface LimiterOptions {
  /** The sliding window (default 1001 ms); 1 s plus the latency spread to hold the rate at arrival. */
  windowMs?: number;
  /**
   * How long before its slot frees a task may be granted (default 0). Senders use the time of the
   * ledger's in-flight write: a slot then turns over every window, not every window plus the write.
   */
  leadMs?: number;
  now?: () => number;
}

export class SlidingWindowLimiter implements RateLimiter {
  private readonly starts: number[] = [];
  private head = 0;
  /** Granted tasks that have not started yet: they hold a place in the window. */
  private reserved = 0;
  private readonly waiting: ((slotAt: number) => void)[] = [];  // each starts its task when called
  private timer: NodeJS.Timeout | null = null;
  private rate: number;
  private tokens: number;
  private lastRefill: number;
  private pausedUntil = 0;
  private lastSlowDown = -Infinity;
  private readonly throttled: number[] = [];
  private lastRecovery = 0;
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly leadMs: number;
  private configured: number;

  constructor(ratePerSecond: number, options: LimiterOptions | (() => number) = {}) {
    const o = typeof options === 'function' ? { now: options } : options;
    checkRate(ratePerSecond);
    this.now = o.now ?? (() => performance.now());
    this.windowMs = Math.max(WINDOW_MS, o.windowMs ?? WINDOW_MS);
    this.leadMs = Math.max(0, o.leadMs ?? 0);
    this.configured = this.rate = ratePerSecond;
    this.tokens = burst(ratePerSecond);
    this.lastRefill = this.now();
  }

  get ratePerSecond(): number {
    return this.configured;
  }

  setRate(ratePerSecond: number): void {
    checkRate(ratePerSecond);
    this.rate = Math.min(this.rate === this.configured ? ratePerSecond : this.rate, ratePerSecond);
    this.configured = ratePerSecond;
    this.pump();
  }

  get currentRate(): number {
    return this.rate;
  }

  get queued(): number {
    return this.waiting.length;
  }

  schedule<T>(task: () => Promise<T>): Promise<T> {
    return this.scheduleStart(startingWhenFree(task));
  }

  /** `onStamp`: called when the task's start is stamped (the Redis window stamps it there too). */
  scheduleStart<T>(task: StartingTask<T>, onStamp?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // The task is called right here when its turn comes, not on a later microtask: the window
      // counts the moments tasks really start, so a backlog of resolved promises cannot bunch up.
      this.waiting.push((slotAt) => {
        this.reserved++;
        let open = true;
        let gone = false;
        let atDeparture = false;
        const release = (stamp: boolean, pumpLater = false) => {
          if (!open) return;
          open = false;
          this.reserved--;
          if (stamp) {
            this.starts.push(this.now());
            onStamp?.();
          }
          if (pumpLater) queueMicrotask(() => this.pump());
          else this.pump();
        };
        const go = (pumpLater: boolean) => {
          gone = true;
          if (!atDeparture) release(true, pumpLater);
        };
        // Granted early (the lead): the start waits for its slot, the work before it did not.
        const started: Started = (stampAtDeparture = false) => {
          atDeparture = stampAtDeparture;
          const wait = slotAt - this.now();
          if (wait <= 0 || !open) {
            go(false);
            return undefined;
          }
          return new Promise<void>((done) => setTimeout(() => {
            // The task's start is queued before the grants this start makes room for, so they
            // cannot come between its stamp and its request.
            done();
            go(true);
          }, Math.ceil(wait)));
        };
        // Called from inside the HTTP client's write: grants wait for the next microtask.
        const departed = () => {
          if (gone) release(true, true);
        };
        try {
          // A task that went and never said it departed may have: its start is stamped at its end.
          task(started, { slotInMs: Math.max(0, slotAt - this.now()), departed }).then(resolve, reject).finally(() => release(gone));
        } catch (err) {
          release(false);
          reject(err);
        }
      });
      this.pump();
    });
  }

  slowDown(): void {
    const now = this.now();
    this.throttled.push(now);
    while (this.throttled[0]! <= now - SLOW_DOWN_EVERY_MS) this.throttled.shift();
    if (now - this.lastSlowDown < SLOW_DOWN_EVERY_MS) return;
    this.lastSlowDown = now;
    const lowered = Math.max(this.rate / 2, Math.min(this.rate * (1 - SLOW_DOWN_MIN_STEP), this.rate - this.throttled.length));
    this.rate = Math.max(Math.min(1, this.configured), lowered);
  }

  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
    this.pump();
  }

  /** Starts every waiting task the window has room for, then sleeps until the next room. */
  private pump(): void {
    const now = this.now();
    this.recover(now);
    const { cap, windowMs } = windowFor(this.rate, this.windowMs);
    while (this.head < this.starts.length && this.starts[this.head]! <= now - windowMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.starts.length) {
      this.starts.splice(0, this.head);
      this.head = 0;
    }
    this.tokens = Math.min(burst(this.rate), this.tokens + ((now - this.lastRefill) * this.rate) / 1000);
    this.lastRefill = now;
    // A start is stamped when the task really starts (scheduleStart), which is at or after its
    // grant; a grant counts the stamped starts of the last second and the granted ones still to
    // start, so no window of real starts ever holds more than the cap.
    // A task's slot is free once the starts before it have left the window: `used` places are
    // taken (stamped starts and granted tasks), so a new one takes the place of the start at
    // `used - cap` (+1 ms past the window's edge: a timer may fire a fraction early). It is granted
    // when that moment is within the lead.
    const slotFor = (used: number) => used < cap ? now : (this.starts[this.head + used - cap] ?? Infinity) + windowMs + 1;
    while (this.waiting.length > 0 && now >= this.pausedUntil && this.tokens >= 1) {
      const slotAt = slotFor(this.starts.length - this.head + this.reserved);
      if (slotAt > now + this.leadMs) break;
      this.tokens -= 1;
      this.waiting.shift()!(slotAt);
    }
    if (this.waiting.length === 0 || this.timer) return;
    const nextSlot = slotFor(this.starts.length - this.head + this.reserved);
    // Full of granted tasks yet to start: their start or release pumps again.
    if (nextSlot === Infinity) return;
    const nextRoom = nextSlot - this.leadMs;
    const nextToken = now + Math.max(0, ((1 - this.tokens) * 1000) / this.rate);
    const wait = Math.max(this.pausedUntil, nextRoom, nextToken) - now;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, Math.max(1, Math.ceil(wait)));
  }

  private recover(now: number): void {
    if (this.rate >= this.configured || now - this.lastSlowDown < QUIET_MS || now - this.lastRecovery < 1000) return;
    this.lastRecovery = now;
    this.rate = Math.min(this.configured, this.rate + this.configured * RECOVERY_STEP);
  }
}

/**
 * The bucket holds 50 ms worth of starts, at least two: enough that a timer firing late on a busy
 * machine loses no starts (with 10 ms worth, one 80/s run reached only 96.5% of the rate), small
 * enough that starts stay spread over the second.
 */
function burst(rate: number): number {
  return Math.max(2, Math.ceil(rate / 20));
}

/**
 * How many starts a window may hold, and how long it is, so that a rate is honoured exactly over
 * time, fractional ones included: whole starts per window, the window stretched to match (4.75/s:
 * 5 starts per 1.053 s, not 4 per second; 0.5/s: one per 2 s). `baseMs` is the window at whole
 * rates (1 s plus any arrival margin).
 */
export function windowFor(rate: number, baseMs: number): { cap: number; windowMs: number } {
  const cap = Math.max(1, Math.ceil(rate - 1e-9));
  return { cap, windowMs: baseMs - 1000 + Math.max(1000, (1000 * cap) / rate) };
}

function checkRate(rate: number): void {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be positive, got ${rate}`);
}
