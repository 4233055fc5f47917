/**
 * Pacing: one limiter per (provider, sender). A sliding 1-second window of start times: a task
 * starts only while fewer than `rate` tasks started in the last second, so no window ever holds
 * more, even after the event loop stalls (late timers only start tasks later, never more at once).
 *
 * The rate adapts: `slowDown()` on throughput errors (Meta 130429, HTTP 429) halves it, `pause()`
 * stops starts for a while (Meta 131057), and without new errors it climbs back to the
 * configured rate, never above it. p-queue 9's strict mode holds a fixed rate just as exactly
 * (bench/pacing.ts measures both) but cannot change its rate at runtime; Bottleneck overshoots.
 */

export interface RateLimiter {
  /** The configured rate: never exceeded. */
  readonly ratePerSecond: number;
  /** The rate in force now (lower after throughput errors). */
  readonly currentRate: number;
  /** Tasks waiting for a start. */
  readonly queued: number;
  /** Runs `task` once the window has room; resolves with its result. */
  schedule<T>(task: () => Promise<T>): Promise<T>;
  /** Halves the current rate (at least 1/s); it climbs back while no further errors come. */
  slowDown(): void;
  /** No starts for `ms`. */
  pause(ms: number): void;
}

const WINDOW_MS = 1000;
/** After a slow-down, the rate grows by this share of the configured rate per quiet second. */
const RECOVERY_STEP = 0.1;
const QUIET_MS = 2000;

export class SlidingWindowLimiter implements RateLimiter {
  private readonly starts: number[] = [];
  private head = 0;
  private readonly waiting: (() => void)[] = [];  // each starts its task when called
  private timer: NodeJS.Timeout | null = null;
  private rate: number;
  private pausedUntil = 0;
  private lastSlowDown = -Infinity;
  private lastRecovery = 0;

  constructor(readonly ratePerSecond: number, private readonly now: () => number = () => performance.now()) {
    if (!(ratePerSecond > 0)) throw new RangeError(`rate must be positive, got ${ratePerSecond}`);
    this.rate = ratePerSecond;
  }

  get currentRate(): number {
    return this.rate;
  }

  get queued(): number {
    return this.waiting.length;
  }

  schedule<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // The task is called right here when its turn comes, not on a later microtask: the window
      // counts the moments tasks really start, so a backlog of resolved promises cannot bunch up.
      this.waiting.push(() => {
        try {
          task().then(resolve, reject);
        } catch (err) {
          reject(err);
        }
      });
      this.pump();
    });
  }

  slowDown(): void {
    this.lastSlowDown = this.now();
    this.rate = Math.max(Math.min(1, this.ratePerSecond), this.rate / 2);
  }

  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
    this.pump();
  }

  /** Starts every waiting task the window has room for, then sleeps until the next room. */
  private pump(): void {
    const now = this.now();
    this.recover(now);
    // Below 1/s the window widens: one start per 1/rate seconds.
    const windowMs = this.rate >= 1 ? WINDOW_MS : WINDOW_MS / this.rate;
    const cap = Math.max(1, Math.floor(this.rate));
    while (this.head < this.starts.length && this.starts[this.head]! <= now - windowMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.starts.length) {
      this.starts.splice(0, this.head);
      this.head = 0;
    }
    while (this.waiting.length > 0 && now >= this.pausedUntil && this.starts.length - this.head < cap) {
      this.starts.push(this.now()); // the moment this task starts, after the ones before it ran
      this.waiting.shift()!();
    }
    if (this.waiting.length === 0 || this.timer) return;
    const nextRoom = this.starts.length - this.head < cap ? now : this.starts[this.head]! + windowMs;
    const wait = Math.max(this.pausedUntil, nextRoom) - now;
    // +1 ms: a timer may fire a fraction early by the monotonic clock; never start inside the window.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, Math.ceil(wait) + 1);
  }

  private recover(now: number): void {
    if (this.rate >= this.ratePerSecond || now - this.lastSlowDown < QUIET_MS || now - this.lastRecovery < WINDOW_MS) return;
    this.lastRecovery = now;
    this.rate = Math.min(this.ratePerSecond, this.rate + this.ratePerSecond * RECOVERY_STEP);
  }
}

export function createRateLimiter(ratePerSecond: number): RateLimiter {
  return new SlidingWindowLimiter(ratePerSecond);
}

/** Limiters are shared by every run in the process that sends from the same number. */
export class LimiterRegistry {
  private readonly limiters = new Map<string, RateLimiter>();

  get(provider: string, sender: string, ratePerSecond: number): RateLimiter {
    const key = `${provider}\u0000${sender}`;
    let limiter = this.limiters.get(key);
    if (!limiter || limiter.ratePerSecond !== ratePerSecond) {
      limiter = createRateLimiter(ratePerSecond);
      this.limiters.set(key, limiter);
    }
    return limiter;
  }
}
