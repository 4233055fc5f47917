/**
 * Pacing: one limiter per (provider, sender). p-queue in strict mode keeps a sliding 1-second
 * window of start times, so no window ever holds more than `rate` starts, even after the event
 * loop stalls. Chosen by measurement (DESIGN "Pacing"): Bottleneck overshoots and tops out near
 * 380 starts/s; see bench/pacing for ours.
 */
import PQueue from 'p-queue';

export interface RateLimiter {
  readonly ratePerSecond: number;
  /** Runs `task` once the window has room; resolves with its result. */
  schedule<T>(task: () => Promise<T>): Promise<T>;
}

export function createRateLimiter(ratePerSecond: number): RateLimiter {
  // p-queue counts whole starts per interval; fractional rates (0.5/s) use a longer window.
  const interval = ratePerSecond >= 1 ? 1000 : Math.ceil(1000 / ratePerSecond);
  const intervalCap = ratePerSecond >= 1 ? Math.floor(ratePerSecond) : 1;
  const queue = new PQueue({ interval, intervalCap, strict: true });
  return {
    ratePerSecond,
    schedule: <T>(task: () => Promise<T>) => queue.add(task) as Promise<T>,
  };
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
