/**
 * The worker-thread phone normalizer, as the built CLI runs it (tests run TypeScript sources,
 * where only the inline path exists): same answers as normalizePhone, in order, for every chunk.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizePhone } from '../src/pipeline/phone.normalize.js';

const BUILT = new URL('../dist/src/pipeline/phone.pool.js', import.meta.url);

describe('phone normalizer on a worker thread (built code)', () => {
  it('answers like normalizePhone, chunk by chunk, in order', async () => {
    expect(existsSync(BUILT), 'npm test builds dist/ before vitest runs').toBe(true);
    const { createPhoneNormalizer } = (await import(BUILT.href)) as typeof import('../src/pipeline/phone.pool.js');
    const pool = createPhoneNormalizer();
    const chunks = [
      ['090-1234-5678', '+81 90 1234 5679', null, 'garbage', '03-1234-5678', 819012345680],
      ['+1 201 555 0123', '', '+44 7911 123456', '０９０１２３４５６７８'],
    ];
    try {
      const answers = await Promise.all(chunks.map((c) => pool.normalize(c, 'JP')));
      expect(answers).toEqual(chunks.map((c) => c.map((v) => normalizePhone(v, 'JP'))));
    } finally {
      await pool.close();
    }
  });
});
