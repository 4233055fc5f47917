/**
 * Meta error codes → herald actions, one row per code of shared/reference/meta-cloud-api.md, and
 * the real error bodies (fixtures) through the same mapping.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ErrorAction } from '../../src/providers/provider.js';
import { graphError, metaErrorAction, metaErrorOutcome } from '../../src/providers/meta/meta.errors.js';
import { RATE_LIMIT_BODY } from '../support/fake-meta.js';

/** The reference table, written out again here so the code cannot drift from it unnoticed. */
const REFERENCE: Record<ErrorAction, number[]> = {
  retry: [1, 2, 131000, 131016, 133004, 131057],
  slow_down: [4, 80007, 130429],
  retry_recipient_later: [131056],
  defer: [131049],
  permanent: [131026, 131050, 130472, 131021, 130403, 131047],
  // A refused value of one row (a parameter too long or invalid, a required one missing).
  invalid_row: [131008, 131009, 132018],
  fix_request: [100, 131051, 131053, 132000, 132001, 132005, 132007, 132012, 132015, 132016, 135000, 131030],
  abort: [0, 3, 10, 190, 200, 250, 299, 368, 131005, 131031, 131042, 131045, 131048, 133010, 33],
};

const FIXTURES = new URL('../fixtures/meta/', import.meta.url);
const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'));

describe('meta error codes', () => {
  const rows = Object.entries(REFERENCE).flatMap(([action, codes]) => codes.map((code) => [code, action] as const));

  it.each(rows)('code %i → %s', (code, action) => {
    expect(metaErrorAction(code)).toBe(action);
    expect(metaErrorOutcome({ code, message: 'm' })).toMatchObject({ kind: 'error', action, code: String(code) });
  });

  it('unknown codes are permanent and say they were not in the table', () => {
    expect(metaErrorAction(999_999)).toBe('permanent');
    expect(metaErrorOutcome({ code: 999_999, message: 'Something new' }).detail).toBe("Something new; code 999999 is not in herald's table, treated as permanent");
  });

  it('131057 pauses the whole sender for a minute, then retries', () => {
    expect(metaErrorOutcome({ code: 131057, message: '(#131057) Account in maintenance mode' })).toEqual({
      kind: 'error', action: 'retry', code: '131057', detail: '(#131057) Account in maintenance mode', pauseSenderMs: 60_000,
    });
  });

  it('131050 (user stopped marketing messages) is permanent and says the recipient opted out; no other code does', () => {
    expect(metaErrorOutcome({ code: 131050, message: '(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.' })).toEqual({
      kind: 'error', action: 'permanent', code: '131050', optedOut: true,
      detail: '(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.',
    });
    expect(rows.filter(([code]) => code !== 131050).some(([code]) => metaErrorOutcome({ code }).optedOut !== undefined)).toBe(false);
  });

  it('131049 defers by 24 h', () => {
    expect(metaErrorOutcome({ code: 131049, message: 'ecosystem' })).toMatchObject({ action: 'defer', retryAfterMs: 86_400_000 });
  });

  it('the detail carries the message, error_data.details, the HTTP status, the subcode and fbtrace_id', () => {
    const error = graphError(RATE_LIMIT_BODY)!;
    expect(metaErrorOutcome(error, 400)).toEqual({
      kind: 'error', action: 'slow_down', code: '130429',
      detail: '(#130429) Rate limit hit: Cloud API message throughput has been reached. (HTTP 400, subcode 2494055, fbtrace_id Az8or2yhqkZfEZ-_4Qn_Bam)',
    });
  });

  it('reads only Graph error bodies', () => {
    expect(graphError({ error: { code: '131026', message: 'x' } })).toMatchObject({ code: 131026 });
    for (const other of [undefined, null, 'text', [], {}, { error: 'x' }, { error: { message: 'no code' } }, { error: { code: 1.5 } }]) {
      expect(graphError(other)).toBeNull();
    }
  });
});

describe('meta fixtures (test/fixtures/meta)', () => {
  it('send-error-130429.json maps to slow_down, and the fake Meta answers exactly that body', () => {
    const body = fixture('send-error-130429.json');
    expect(RATE_LIMIT_BODY).toEqual(body);
    expect(metaErrorOutcome(graphError(body)!, 400)).toMatchObject({ action: 'slow_down', code: '130429' });
  });

  it('the status webhook error codes use the same table (131049 in status-failed.json defers)', () => {
    const status = fixture('status-failed.json') as { entry: { changes: { value: { statuses: { errors: { code: number }[] }[] } }[] }[] };
    const code = status.entry[0]!.changes[0]!.value.statuses[0]!.errors[0]!.code;
    expect(metaErrorAction(code)).toBe('defer');
  });
});
