import { describe, expect, it } from 'vitest';
import { JobSchema, type Job } from '../src/config/job.schema.js';
import { hasConsent, normalize } from '../src/pipeline/normalize.js';
import type { Draft, Verdict } from '../src/types.js';
import type { Row } from '../src/warehouse/warehouse.js';

const job: Job = JobSchema.parse({
  name: 'normalize_test',
  source: { query: 'select 1' },
  audience: { key: 'customer_id', phone: 'phone', default_region: 'JP', consent: 'opt_in' },
  message: { provider: 'sandbox', sender: '15550001234', template: { name: 'welcome_back', language: 'ja' } },
});

async function* chunksOf(...chunks: Row[][]): AsyncGenerator<Row[]> {
  yield* chunks;
}

async function run(...chunks: Row[][]): Promise<Draft[][]> {
  const out: Draft[][] = [];
  for await (const drafts of normalize(job, chunksOf(...chunks))) out.push(drafts);
  return out;
}

/** One line per draft: key, recipient and verdict (or "open"). */
function summary(drafts: Draft[]): [string, string | null, Verdict | 'open'][] {
  return drafts.map((d) => [d.rowKey, d.recipient, d.verdict ?? 'open']);
}

describe('normalize', () => {
  it('keys every row, normalizes its phone and keeps the row for render', async () => {
    const rows = [
      { customer_id: 'c1', phone: '090-1234-5678', opt_in: true, first_name: '花子' },
      { customer_id: 42, phone: '+6591234567', opt_in: 'yes' },
    ];
    const [drafts] = await run(rows);
    expect(drafts).toEqual([
      { ordinal: 0, rowKey: 'c1', row: rows[0], recipient: '+819012345678', country: 'JP' },
      { ordinal: 1, rowKey: '42', row: rows[1], recipient: '+6591234567', country: 'SG' },
    ]);
  });

  it('rejects rows without a key (missing_key) and keys them by position', async () => {
    const [drafts] = await run([
      { customer_id: null, phone: '09012345678', opt_in: true },
      { customer_id: '', phone: '09012345679', opt_in: true },
      { phone: '09012345670', opt_in: true },
    ]);
    const verdict = { status: 'rejected', reason: 'missing_key', detail: 'column customer_id is empty; this row is keyed by its position' };
    expect(summary(drafts!)).toEqual([['#0', null, verdict], ['#1', null, verdict], ['#2', null, verdict]]);
  });

  it('marks a repeated key duplicate_in_segment with repeatsKey, across chunks', async () => {
    const out = await run(
      [{ customer_id: 'c1', phone: '09012345678', opt_in: true }, { customer_id: 'c1', phone: '09087654321', opt_in: true }],
      [{ customer_id: 'c1', phone: '09011112222', opt_in: true }],
    );
    const dup = { status: 'duplicate', reason: 'duplicate_in_segment', detail: 'customer_id c1 appears earlier in the segment' };
    expect(summary(out.flat())).toEqual([['c1', '+819012345678', 'open'], ['c1', null, dup], ['c1', null, dup]]);
    expect(out.flat().map((d) => d.repeatsKey)).toEqual([undefined, true, true]);
    expect(out.flat().map((d) => d.ordinal)).toEqual([0, 1, 2]);
  });

  it('rejects invalid and non-mobile phones', async () => {
    const [drafts] = await run([
      { customer_id: 'a', phone: null, opt_in: true },
      { customer_id: 'b', phone: 'garbage', opt_in: true },
      { customer_id: 'c', phone: '+81 90 0000 1234', opt_in: true },
      { customer_id: 'd', phone: '03-1234-5678', opt_in: true },
      { customer_id: 'e', phone: '0120-123-456', opt_in: true },
    ]);
    expect(summary(drafts!)).toEqual([
      ['a', null, { status: 'rejected', reason: 'invalid_phone', detail: 'empty' }],
      ['b', null, { status: 'rejected', reason: 'invalid_phone', detail: 'NOT_A_NUMBER' }],
      ['c', null, { status: 'rejected', reason: 'invalid_phone', detail: 'not a valid JP number' }],
      ['d', null, { status: 'rejected', reason: 'not_mobile', detail: 'fixed_line number' }],
      ['e', null, { status: 'rejected', reason: 'not_mobile', detail: 'toll_free number' }],
    ]);
  });

  it.each([
    ['true', true], ['"true"', 'true'], ['"YES"', 'YES'], ['1', 1], ['"t"', 't'], ['"1"', '1'], ['" Yes "', ' Yes '], ['"on"', 'on'], ['1n', 1n],
  ] as [string, unknown][])('consent %s passes', async (_label, consent) => {
    const [drafts] = await run([{ customer_id: 'c1', phone: '09012345678', opt_in: consent }]);
    expect(summary(drafts!)).toEqual([['c1', '+819012345678', 'open']]);
    expect(hasConsent(consent)).toBe(true);
  });

  it.each([
    [false, 'false'], ['false', '"false"'], [0, '0'], ['', '""'], [null, 'null'], [undefined, 'null'],
    ['maybe', '"maybe"'], ['no', '"no"'], [2, '2'], ['0', '"0"'],
  ] as [unknown, string][])('consent %j is no_consent (suppressed)', async (consent, shown) => {
    const [drafts] = await run([{ customer_id: 'c1', phone: '09012345678', opt_in: consent }]);
    expect(summary(drafts!)).toEqual([
      ['c1', '+819012345678', { status: 'suppressed', reason: 'no_consent', detail: `opt_in is ${shown}` }],
    ]);
    expect(hasConsent(consent)).toBe(false);
  });

  it('the same recipient in two formats: the second row is duplicate_in_segment', async () => {
    const [drafts] = await run([
      { customer_id: 'c1', phone: '090-1234-5678', opt_in: true },
      { customer_id: 'c2', phone: '+81 90 1234 5678', opt_in: true },
      { customer_id: 'c3', phone: 819012345678, opt_in: true },
      { customer_id: 'c4', phone: '０９０１２３４５６７８', opt_in: true },
    ]);
    const dup = { status: 'duplicate', reason: 'duplicate_in_segment', detail: 'same recipient as an earlier row of the segment' };
    expect(summary(drafts!)).toEqual([
      ['c1', '+819012345678', 'open'],
      ['c2', '+819012345678', dup],
      ['c3', '+819012345678', dup],
      ['c4', '+819012345678', dup],
    ]);
    expect(drafts!.map((d) => d.repeatsKey)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('a recipient repeated in a later chunk is still a duplicate', async () => {
    const out = await run(
      [{ customer_id: 'c1', phone: '+6281234567890', opt_in: true }],
      [{ customer_id: 'c2', phone: '+62 812-3456-7890', opt_in: true }],
    );
    expect(summary(out.flat())).toEqual([
      ['c1', '+6281234567890', 'open'],
      ['c2', '+6281234567890', { status: 'duplicate', reason: 'duplicate_in_segment', detail: 'same recipient as an earlier row of the segment' }],
    ]);
  });

  it('a row without consent does not claim its recipient', async () => {
    const [drafts] = await run([
      { customer_id: 'c1', phone: '09012345678', opt_in: false },
      { customer_id: 'c2', phone: '+819012345678', opt_in: true },
      { customer_id: 'c3', phone: '090 1234 5678', opt_in: 'true' },
    ]);
    expect(summary(drafts!)).toEqual([
      ['c1', '+819012345678', { status: 'suppressed', reason: 'no_consent', detail: 'opt_in is false' }],
      ['c2', '+819012345678', 'open'],
      ['c3', '+819012345678', { status: 'duplicate', reason: 'duplicate_in_segment', detail: 'same recipient as an earlier row of the segment' }],
    ]);
  });

  it('a recipient without consent is no_consent', async () => {
    const [drafts] = await run([{ customer_id: 'c1', phone: '+818012345678', opt_in: 'no' }]);
    expect(summary(drafts!)).toEqual([['c1', '+818012345678', { status: 'suppressed', reason: 'no_consent', detail: 'opt_in is "no"' }]]);
  });

  it('yields one batch per chunk, empty chunks included', async () => {
    const out = await run([], [{ customer_id: 'c1', phone: '09012345678', opt_in: true }], []);
    expect(out.map((b) => b.length)).toEqual([0, 1, 0]);
  });
});
