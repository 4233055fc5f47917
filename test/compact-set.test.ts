import { describe, expect, it } from 'vitest';
import { IntegerSet, StringHashSet } from '../src/util/compact-set.js';

describe('compact sets', () => {
  it('IntegerSet remembers E.164 digits across growth', () => {
    const set = new IntegerSet();
    for (let i = 0; i < 50_000; i++) expect(set.add(819000000000 + i * 7)).toBe(true);
    for (let i = 0; i < 50_000; i++) expect(set.add(819000000000 + i * 7)).toBe(false);
    expect(set.add(999999999999999)).toBe(true);
    expect(() => set.add(0)).toThrow(RangeError);
    expect(() => set.add(2 ** 53)).toThrow(RangeError);
  });

  it('StringHashSet tells 200,000 distinct keys apart and sees every repeat', () => {
    const set = new StringHashSet();
    const keys = Array.from({ length: 200_000 }, (_, i) => `c${i}`);
    keys.push('', 'é', '顧客-1', 'a'.repeat(300));
    for (const k of keys) expect(set.add(k)).toBe(true);
    for (const k of keys) expect(set.add(k)).toBe(false);
  });
});
