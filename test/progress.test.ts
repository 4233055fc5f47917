/** The progress line on a terminal, and JSON progress lines elsewhere. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { progressPrinter } from '../src/cli/progress.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream, writes };
}

describe('progress', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('on a terminal: rows of total, percent, counts, rate and ETA, redrawn in place', () => {
    const { stream, writes } = fakeStream(true);
    const p = progressPrinter('welcome', stream);
    vi.advanceTimersByTime(10_000);
    p.update({ rows: 1000, total: 10_000, byStatus: { accepted: 800, failed: 20, rejected: 180 } });
    vi.advanceTimersByTime(250);
    expect(writes.at(-1)).toBe('\rwelcome: 1,000/10,000 rows (10%) · 800 accepted · 20 failed · 180 skipped · 80/s · 10s · ETA 1m32s\u001b[K');
    p.stop();
    expect(writes.at(-1)!.endsWith('\n')).toBe(true);
  });

  it('elsewhere: a pino JSON line every 5 s, like the logs beside it; --limit caps the total', () => {
    const { stream, writes } = fakeStream(false);
    const p = progressPrinter('welcome', stream, 2000);
    p.update({ rows: 500, total: 10_000, byStatus: { accepted: 500 } });
    vi.advanceTimersByTime(5000);
    expect(writes[0]!.endsWith('\n')).toBe(true);
    expect(writes[0]!.trimEnd()).not.toContain('\n');
    expect(JSON.parse(writes[0]!)).toMatchObject({
      level: 30, app: 'herald', msg: 'progress', time: expect.any(Number),
      progress: { job: 'welcome', rows: 500, total: 2000, accepted: 500, failed: 0, unknown: 0, skipped: 0, send_rate: 100, elapsed_s: 5, eta_s: 15 },
    });
    p.stop();
    expect(writes).toHaveLength(2);
    expect(JSON.parse(writes[1]!)).toMatchObject({ msg: 'progress' });
  });

  it('prints nothing for a run that never started', () => {
    const { stream, writes } = fakeStream(true);
    progressPrinter('welcome', stream).stop();
    expect(writes).toEqual([]);
  });
});
