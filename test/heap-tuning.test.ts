import { describe, expect, it } from 'vitest';
import { tuneHeapForStreaming } from '../src/util/heap-tuning.js';

describe('heap tuning', () => {
  it('sets the growth factor when the operator chose no heap flags', () => {
    expect(tuneHeapForStreaming([], '')).toBe(true);
    expect(tuneHeapForStreaming(['--enable-source-maps'], '--trace-warnings')).toBe(true);
  });

  it("leaves the operator's own heap flags alone", () => {
    expect(tuneHeapForStreaming(['--max-old-space-size=2048'], '')).toBe(false);
    expect(tuneHeapForStreaming([], '--max-old-space-size=512 --enable-source-maps')).toBe(false);
    expect(tuneHeapForStreaming(['--heap-growing-percent=100'], '')).toBe(false);
  });
});
