/** The sliding-window limiter's rules, on a fake clock (accuracy at real speed is in bench/pacing). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SlidingWindowLimiter } from '../src/dispatch/limiter.js';

describe('SlidingWindowLimiter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function startsOf(limiter: SlidingWindowLimiter, tasks: number): number[] {
    const starts: number[] = [];
    for (let i = 0; i < tasks; i++) void limiter.schedule(async () => void starts.push(Date.now()));
    return starts;
  }
  const make = (rate: number) => new SlidingWindowLimiter(rate, () => Date.now());

  /** The most starts in any window of `ms`. */
  function densest(starts: readonly number[], ms: number): number {
    let most = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[i]! - starts[j]! >= ms) j++;
      most = Math.max(most, i - j + 1);
    }
    return most;
  }

  it.each([3, 20, 80, 1000])('at %d/s: never more than the rate in any second, spread over it, and the full rate overall', async (rate) => {
    const starts = startsOf(make(rate), rate * 3);
    await vi.advanceTimersByTimeAsync(4000);
    expect(starts).toHaveLength(rate * 3);
    expect(densest(starts, 1000)).toBe(rate);
    // Spread: in any 100 ms, at most the bucket (50 ms worth, at least 2) plus what 100 ms refill,
    // never a whole second's worth at once.
    expect(densest(starts, 100)).toBeLessThanOrEqual(Math.max(2, Math.ceil(rate / 20)) + Math.ceil(rate / 10));
    expect(starts.at(-1)! - starts[0]!).toBeLessThan(3000); // three seconds' worth took under three seconds
  });

  it('returns each task\'s result and error', async () => {
    const limiter = make(1000);
    await expect(limiter.schedule(async () => 42)).resolves.toBe(42);
    await expect(limiter.schedule(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    await expect(limiter.schedule(() => { throw new Error('sync'); })).rejects.toThrow('sync');
  });

  it('one throughput error costs 5% of the rate, and it climbs back to the configured rate, never above it', async () => {
    const limiter = make(80);
    limiter.slowDown();
    expect(limiter.currentRate).toBe(76);
    // More errors within the same second are the same overshoot: no further step.
    limiter.slowDown();
    limiter.slowDown();
    expect(limiter.currentRate).toBe(76);
    const starts = startsOf(limiter, 1000);
    await vi.advanceTimersByTimeAsync(999);
    expect(starts.length).toBeLessThanOrEqual(76);
    // Quiet for 2 s, then 5% of the configured rate back per second.
    await vi.advanceTimersByTimeAsync(3010);
    expect(limiter.currentRate).toBe(80);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(densest(starts, 1000)).toBeLessThanOrEqual(80);
  });

  it('a second of many refusals lowers the rate by their number, at most by half', () => {
    const limiter = make(12);
    limiter.slowDown(); // one refusal: 12 − 1 (more than 5%)
    vi.advanceTimersByTime(500);
    for (let i = 0; i < 5; i++) limiter.slowDown(); // within the second: counted, not applied
    expect(limiter.currentRate).toBe(11);
    vi.advanceTimersByTime(501);
    limiter.slowDown(); // 6 refusals in the last second: 11 − 6, but never more than half at once
    expect(limiter.currentRate).toBe(5.5);
    vi.advanceTimersByTime(1001);
    limiter.slowDown(); // one refusal: 5.5 − 1
    expect(limiter.currentRate).toBe(4.5);
  });

  it('never slows below one start per second', () => {
    const limiter = make(3);
    for (let i = 0; i < 5; i++) {
      limiter.slowDown();
      vi.advanceTimersByTime(1000);
    }
    expect(limiter.currentRate).toBe(1);
  });

  it('a longer window holds the rate in every window of that length (the arrival margin)', async () => {
    const limiter = new SlidingWindowLimiter(50, { windowMs: 1040, now: () => Date.now() });
    const starts = startsOf(limiter, 200);
    await vi.advanceTimersByTimeAsync(5000);
    expect(starts).toHaveLength(200);
    expect(densest(starts, 1040)).toBe(50);
  });

  it('setRate changes the cap at once; a slowed-down rate stays under the new cap', async () => {
    const limiter = make(100);
    limiter.setRate(20);
    const starts = startsOf(limiter, 60);
    await vi.advanceTimersByTimeAsync(999);
    expect(starts.length).toBeLessThanOrEqual(20);
    expect(limiter.ratePerSecond).toBe(20);
    vi.advanceTimersByTime(1000);
    limiter.slowDown(); // 19
    limiter.setRate(100);
    expect(limiter.currentRate).toBe(19);
    limiter.setRate(10);
    expect(limiter.currentRate).toBe(10);
  });

  it('pauses: nothing starts until the pause ends', async () => {
    const limiter = make(100);
    limiter.pause(5000);
    const starts = startsOf(limiter, 3);
    await vi.advanceTimersByTimeAsync(4999);
    expect(starts).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(30);
    expect(starts).toHaveLength(3);
  });

  it('spaces rates below one per second', async () => {
    const starts = startsOf(make(0.5), 3);
    await vi.advanceTimersByTimeAsync(0);
    expect(starts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1900);
    expect(starts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(starts).toHaveLength(2);
  });

  it('honours a fractional rate exactly over time: 4.75/s is 95 starts in 20 s, never more than 5 in a second', async () => {
    const starts = startsOf(make(4.75), 200);
    await vi.advanceTimersByTimeAsync(20_000);
    // 5 starts at once, then 5 per 1,053 ms: 95 ± the first window.
    expect(starts.length).toBeGreaterThanOrEqual(94);
    expect(starts.length).toBeLessThanOrEqual(100);
    expect(densest(starts, 1000)).toBe(5);
    expect(densest(starts, 1052)).toBe(5);
  });

  it('with a lead, a task is granted before its slot frees, and starts exactly when it does', async () => {
    const limiter = new SlidingWindowLimiter(2, { now: () => Date.now(), leadMs: 15 });
    const granted: number[] = [];
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) {
      void limiter.scheduleStart(async (started) => {
        granted.push(Date.now());
        await started();
        starts.push(Date.now());
      });
    }
    await vi.advanceTimersByTimeAsync(3000);
    expect(starts).toHaveLength(3);
    // The third waited for the first start to leave the window (1,001 ms + 1), granted 15 ms early.
    expect(starts[2]! - starts[0]!).toBeGreaterThanOrEqual(1002);
    expect(starts[2]! - granted[2]!).toBeGreaterThanOrEqual(10);
    expect(densest(starts, 1001)).toBe(2);
  });

  it('with started(true), a start is stamped when the task says it departed, and the next slot follows it', async () => {
    const limiter = make(1);
    const t0 = Date.now();
    const departures: number[] = [];
    const starts: number[] = [];
    // The first request waits 300 ms for its connection after its slot let it go.
    void limiter.scheduleStart(async (started, grant) => {
      await started(true);
      await new Promise((r) => setTimeout(r, 300));
      departures.push(Date.now() - t0);
      grant.departed();
      await new Promise((r) => setTimeout(r, 500)); // its answer
    });
    void limiter.scheduleStart(async (started, grant) => {
      await started(true);
      starts.push(Date.now() - t0);
      grant.departed();
    });
    await vi.advanceTimersByTimeAsync(3000);
    expect(departures).toEqual([300]);
    // One window after the first departed, not after its slot let it go (1,002 ms: it would have
    // left 300 ms early), nor after its answer (stamped at the end: 1,802 ms).
    expect(starts).toEqual([300 + 1002]);
  });

  it('with started(true), a task that never says it departed is stamped at its end', async () => {
    const limiter = make(1);
    const t0 = Date.now();
    const starts: number[] = [];
    void limiter.scheduleStart(async (started) => {
      await started(true);
      await new Promise((r) => setTimeout(r, 200));
    });
    void limiter.schedule(async () => void starts.push(Date.now() - t0));
    await vi.advanceTimersByTimeAsync(3000);
    expect(starts).toEqual([200 + 1002]);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => make(0)).toThrow(RangeError);
  });
});
