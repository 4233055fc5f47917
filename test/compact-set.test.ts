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

  it('IntegerSet is exact: numbers that share either 32-bit half stay distinct', () => {
    const set = new IntegerSet();
    const values: number[] = [];
    for (let high = 1; high < 300; high++) for (const low of [0, 1, 2 ** 31, 2 ** 32 - 1]) values.push(high * 2 ** 32 + low);
    for (let i = 1; i < 5_000; i++) values.push(i);
    for (const v of values) expect(set.add(v)).toBe(true);
    for (const v of values) expect(set.add(v)).toBe(false);
  });

  it('StringHashSet.has sees what was added and nothing else', () => {
    const set = new StringHashSet();
    for (let i = 0; i < 20_000; i++) set.add(`key-${i}`);
    for (let i = 0; i < 20_000; i++) expect(set.has(`key-${i}`)).toBe(true);
    for (let i = 20_000; i < 40_000; i++) expect(set.has(`key-${i}`)).toBe(false);
    expect(new StringHashSet().has('anything')).toBe(false);
  });

  it('StringHashSet tells 200,000 distinct keys apart and sees every repeat', () => {
    const set = new StringHashSet();
    const keys = Array.from({ length: 200_000 }, (_, i) => `c${i}`);
    keys.push('', 'é', '顧客-1', 'a'.repeat(300));
    for (const k of keys) expect(set.add(k)).toBe(true);
    for (const k of keys) expect(set.add(k)).toBe(false);
  });
});
