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

  it('starts at most `rate` tasks in any second, then the next ones as the window slides', async () => {
    const starts = startsOf(make(3), 8);
    expect(starts).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(999);
    expect(starts).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(2);
    expect(starts).toHaveLength(6);
    await vi.advanceTimersByTimeAsync(1001);
    expect(starts).toHaveLength(8);
  });

  it('returns each task\'s result and error', async () => {
    const limiter = make(10);
    await expect(limiter.schedule(async () => 42)).resolves.toBe(42);
    await expect(limiter.schedule(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    await expect(limiter.schedule(() => { throw new Error('sync'); })).rejects.toThrow('sync');
  });

  it('slows down to half the rate and climbs back to the configured rate, never above it', async () => {
    const limiter = make(10);
    limiter.slowDown();
    expect(limiter.currentRate).toBe(5);
    const starts = startsOf(limiter, 100);
    expect(starts).toHaveLength(5);
    // Quiet for 2 s: the rate grows by a tenth of the configured rate per second.
    await vi.advanceTimersByTimeAsync(2010);
    expect(limiter.currentRate).toBe(6);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(limiter.currentRate).toBe(10);
    // Every 1-second window of the whole run held at most 10 starts.
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[i]! - starts[j]! >= 1000) j++;
      expect(i - j + 1).toBeLessThanOrEqual(10);
    }
  });

  it('never slows below one start per second, and a second slow-down halves again', () => {
    const limiter = make(3);
    limiter.slowDown();
    limiter.slowDown();
    limiter.slowDown();
    expect(limiter.currentRate).toBe(1);
  });

  it('pauses: nothing starts until the pause ends', async () => {
    const limiter = make(100);
    limiter.pause(5000);
    const starts = startsOf(limiter, 3);
    await vi.advanceTimersByTimeAsync(4999);
    expect(starts).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(starts).toHaveLength(3);
  });

  it('spaces rates below one per second', async () => {
    const starts = startsOf(make(0.5), 3);
    expect(starts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1500);
    expect(starts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(501);
    expect(starts).toHaveLength(2);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => make(0)).toThrow(RangeError);
  });
});
