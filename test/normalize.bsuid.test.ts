/** Segment rows that give a WhatsApp business-scoped user id (`audience.user_id`) instead of a phone. */
import { describe, expect, it } from 'vitest';
import { JobSchema } from '../src/config/job.schema.js';
import { normalize } from '../src/pipeline/normalize.js';
import { quietHours } from '../src/pipeline/quiet-hours.js';
import type { Draft } from '../src/types.js';
import type { Row } from '../src/warehouse/warehouse.js';

const jobWith = (audience: Record<string, unknown>) => JobSchema.parse({
  name: 'bsuid_test',
  source: { query: 'select 1' },
  audience: { key: 'id', default_region: 'US', consent: 'ok', ...audience },
  message: { provider: 'meta', sender: '106540352242922', template: { name: 'promo', language: 'en_US' } },
});

async function drafts(audience: Record<string, unknown>, rows: Row[]): Promise<Draft[]> {
  const out: Draft[] = [];
  async function* one() {
    yield rows;
  }
  for await (const d of normalize(jobWith(audience), one())) out.push(...d);
  return out;
}

const line = (d: Draft) => [d.rowKey, d.recipient, d.country ?? null, d.verdict ? `${d.verdict.status}/${d.verdict.reason ?? ''}: ${d.verdict.detail ?? ''}` : 'open'];

describe('normalize with audience.user_id', () => {
  it('a row with a BSUID goes to it (a valid phone beside it kept for its opt-outs); a row without one goes by phone', async () => {
    const out = await drafts({ phone: 'phone', user_id: 'bsuid' }, [
      { id: 'a', bsuid: 'US.13491208655302741918', phone: 'not a phone', ok: true },
      { id: 'b', bsuid: null, phone: '+12015550101', ok: true },
      { id: 'c', bsuid: '  ', phone: '(201) 555-0102', ok: true },
      { id: 'd', bsuid: 'BR.ENT.11815799212886844830', phone: null, ok: true },
      { id: 'e', bsuid: 'US.13491208655302741918', phone: '+12015550103', ok: true },
      { id: 'f', bsuid: 'US.9', phone: null, ok: false },
    ]);
    expect(out.map(line)).toEqual([
      ['a', 'US.13491208655302741918', 'US', 'open'],
      ['b', '+12015550101', 'US', 'open'],
      ['c', '+12015550102', 'US', 'open'],
      ['d', 'BR.ENT.11815799212886844830', 'BR', 'open'],
      ['e', 'US.13491208655302741918', 'US', 'duplicate/duplicate_in_segment: same recipient as an earlier row of the segment'],
      ['f', 'US.9', 'US', 'suppressed/no_consent: ok is false'],
    ]);
    expect(out.map((d) => d.phone ?? null)).toEqual([null, null, null, null, '+12015550103', null]);
  });

  it('rejects a value that is not a BSUID with invalid_user_id, naming the column and the problem', async () => {
    const long = `US.${'1'.repeat(129)}`;
    const out = await drafts({ phone: 'phone', user_id: 'bsuid' }, [
      { id: 'a', bsuid: '13491208655302741918', phone: '+12015550104', ok: true },
      { id: 'b', bsuid: 'US.', phone: null, ok: true },
      { id: 'c', bsuid: long, phone: null, ok: true },
      { id: 'd', bsuid: 'US.1349-1208', phone: null, ok: true },
      { id: 'e', bsuid: 'us.13491208655302741918', phone: null, ok: true },
    ]);
    expect(out.map(line)).toEqual([
      ['a', null, null, 'rejected/invalid_user_id: column bsuid: "13491208655302741918" does not start with a two-letter region and a dot (e.g. US.13491208655302741918)'],
      ['b', null, null, 'rejected/invalid_user_id: column bsuid: "US." has no id after the region'],
      ['c', null, null, `rejected/invalid_user_id: column bsuid: "${long}" has an id of 129 characters, more than 128`],
      ['d', null, null, 'rejected/invalid_user_id: column bsuid: "US.1349-1208" has characters other than letters and digits in its id'],
      ['e', null, null, 'rejected/invalid_user_id: column bsuid: "us.13491208655302741918" does not start with a two-letter region and a dot (e.g. US.13491208655302741918)'],
    ]);
  });

  it('with no phone column, a row without a BSUID is rejected', async () => {
    const out = await drafts({ user_id: 'bsuid' }, [{ id: 'a', bsuid: null, ok: true }, { id: 'b', bsuid: 'JP.77', ok: true }]);
    expect(out.map(line)).toEqual([
      ['a', null, null, 'rejected/invalid_user_id: column bsuid is empty (and the job gives no audience.phone)'],
      ['b', 'JP.77', 'JP', 'open'],
    ]);
  });
});

describe('sending hours of a BSUID recipient', () => {
  const hours = quietHours({ not_before: '09:00', not_after: '21:00' }, 'UTC')!;
  it('come from the zone of its region prefix', () => {
    // 2026-05-10 12:00 UTC is 21:00 in Tokyo and 08:00 in New York (EDT): both outside.
    const noonUtc = new Date('2026-05-10T12:00:00Z');
    expect(hours.check('JP.77', null, noonUtc)).toBe('21:00 in Asia/Tokyo is outside the sending hours 09:00–21:00');
    expect(hours.check('GB.77', null, noonUtc)).toBeNull(); // 13:00 in London
    // An unknown region falls back to the job's zone (12:00 UTC: inside).
    expect(hours.check('ZZ.77', null, noonUtc)).toBeNull();
  });
});
