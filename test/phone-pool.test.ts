/**
 * The worker-thread phone normalizer, as the built CLI runs it (tests run TypeScript sources,
 * where only the inline path exists): same answers as normalizePhone, in order, for every chunk.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizePhone, type PhoneResult } from '../src/pipeline/phone.normalize.js';
import { packResults, unpackResults } from '../src/pipeline/phone.packed.js';

const BUILT = new URL('../dist/src/pipeline/phone.pool.js', import.meta.url);

describe('phone normalizer on a worker thread (built code)', () => {
  it('answers like normalizePhone, chunk by chunk, in order', async () => {
    expect(existsSync(BUILT), 'npm test builds dist/ before vitest runs').toBe(true);
    const { createPhoneNormalizer } = (await import(BUILT.href)) as typeof import('../src/pipeline/phone.pool.js');
    const pool = createPhoneNormalizer();
    const chunks = [
      ['090-1234-5678', '+81 90 1234 5679', null, 'garbage', '03-1234-5678', 819012345680],
      ['+1 201 555 0123', '', '+44 7911 123456', '０９０１２３４５６７８'],
      // Several chunks queued at once: each answer goes back to its own chunk.
      ...Array.from({ length: 6 }, (_, c) => Array.from({ length: 500 }, (_, i) => (i % 7 === 0 ? `03-${1000 + c}-${2000 + i}` : `090${10_000_000 + c * 1000 + i}`))),
    ];
    try {
      const answers = await Promise.all(chunks.map((c) => pool.normalize(c, 'JP')));
      expect(answers).toEqual(chunks.map((c) => c.map((v) => normalizePhone(v, 'JP'))));
    } finally {
      await pool.close();
    }
  });
});

describe('phone results across threads', () => {
  it('unpack gives back what was packed, a country-less number and every reason included', () => {
    const results: PhoneResult[] = [
      { ok: true, e164: '+819012345678', type: 'MOBILE', country: 'JP' },
      { ok: true, e164: '+12015550123', type: 'FIXED_LINE_OR_MOBILE', country: null },
      { ok: false, reason: 'invalid_phone', detail: 'NOT_A_NUMBER' },
      { ok: false, reason: 'not_mobile', detail: 'fixed_line number' },
      { ok: false, reason: 'invalid_phone', detail: 'empty' },
    ];
    expect(unpackResults(structuredClone(packResults(results)))).toEqual(results);
    expect(unpackResults(packResults([]))).toEqual([]);
  });
});
