/**
 * Normalize: each row becomes a Draft with its key and recipient — the E.164 number, or the BSUID
 * its `audience.user_id` column holds (a row with one is sent to it, its phone unread) — or a
 * verdict saying why it will not be sent: missing_key, invalid_phone, not_mobile, invalid_user_id
 * (rejected), no_consent (suppressed), duplicate_in_segment (duplicate). It reads nothing but the
 * rows: what earlier runs and opt-outs say is decide's business.
 */
import type { Job } from '../config/job.schema.js';
import { IntegerSet, StringHashSet } from '../util/compact-set.js';
import type { Draft } from '../types.js';
import { bsuidCountry, bsuidProblem } from '../util/bsuid.js';
import type { Row } from '../warehouse/warehouse.js';
import type { PhoneResult } from './phone.normalize.js';
import { createPhoneNormalizer, type PhoneNormalizer } from './phone.pool.js';

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', '1', 'on']);

/** Consent must be affirmatively true; null, empty and unknown words are not consent. */
export function hasConsent(value: unknown): boolean {
  if (value === true) return true;
  if (typeof value === 'number' || typeof value === 'bigint') return Number(value) === 1;
  return typeof value === 'string' && TRUE_WORDS.has(value.trim().toLowerCase());
}

export async function* normalize(job: Job, chunks: AsyncIterable<Row[]>, phones: PhoneNormalizer = createPhoneNormalizer()): AsyncGenerator<Draft[]> {
  const { key, phone, consent, default_region: region, user_id: userIdColumn } = job.audience;
  /** The row's BSUID cell as text, or null when the job has no such column or the cell is empty. */
  const userIdOf = (row: Row): string | null => {
    const v = userIdColumn === undefined ? null : row[userIdColumn];
    const t = v === null || v === undefined ? '' : String(v).trim();
    return t === '' ? null : t;
  };
  const zoneColumn = job.delivery.recipient_timezone;
  // In-run dedupe: typed-array sets, small at millions of rows (E.164 digits fit a double).
  const seenKeys = new StringHashSet();
  const seenRecipients = new IntegerSet();
  const seenUserIds = new StringHashSet();
  let ordinal = 0;
  // Chunks ahead: their phones are parsed (on a worker thread) while this one is processed. Two keep
  // the worker busy; each more holds another 2,048 rows alive (old-generation memory, bench/memory.ts).
  const source = chunks[Symbol.asyncIterator]();
  const ahead: { rows: Row[]; parsed: Promise<PhoneResult[]> }[] = [];
  const readAhead = async () => {
    const next = await source.next();
    if (next.done) return false;
    // A row sent to its BSUID still has its phone parsed when it gives one: an opt-out of that
    // phone must stop the row even where Meta never showed the pair (decide checks both).
    const parsed = phones.normalize(next.value.map((r) => (phone === undefined ? null : r[phone])), region);
    parsed.catch(() => undefined); // awaited below, in order; this only marks it handled meanwhile
    ahead.push({ rows: next.value, parsed });
    return true;
  };
  try {
    while (ahead.length < LOOKAHEAD && (await readAhead()));
    while (ahead.length > 0) {
      const { rows, parsed } = ahead.shift()!;
      const results = await parsed;
      await readAhead();
      const drafts: Draft[] = [];
      for (const [i, row] of rows.entries()) {
        const rawKey = row[key];
        const rowKey = rawKey === null || rawKey === undefined || String(rawKey) === '' ? `#${ordinal}` : String(rawKey);
        const draft: Draft = { ordinal: ordinal++, rowKey, row, recipient: null };
        if (zoneColumn) draft.timeZone = row[zoneColumn] === null || row[zoneColumn] === undefined ? null : String(row[zoneColumn]);
        drafts.push(draft);
        if (rowKey.startsWith('#')) {
          draft.verdict = { status: 'rejected', reason: 'missing_key', detail: `column ${key} is empty; this row is keyed by its position` };
          continue;
        }
        if (!seenKeys.add(rowKey)) {
          draft.repeatsKey = true;
          draft.verdict = { status: 'duplicate', reason: 'duplicate_in_segment', detail: `${key} ${rowKey} appears earlier in the segment` };
          continue;
        }
        const userId = userIdOf(row);
        if (userId !== null) {
          const problem = bsuidProblem(userId);
          if (problem !== null) {
            draft.verdict = { status: 'rejected', reason: 'invalid_user_id', detail: `column ${userIdColumn!}: ${JSON.stringify(userId)} ${problem}` };
            continue;
          }
          draft.recipient = userId;
          draft.country = bsuidCountry(userId);
          const alsoPhone = results[i];
          if (alsoPhone?.ok) draft.phone = alsoPhone.e164;
        } else if (phone === undefined) {
          draft.verdict = { status: 'rejected', reason: 'invalid_user_id', detail: `column ${userIdColumn!} is empty (and the job gives no audience.phone)` };
          continue;
        } else {
          const normalized = results[i]!;
          if (!normalized.ok) {
            draft.verdict = { status: 'rejected', reason: normalized.reason, detail: normalized.detail };
            continue;
          }
          draft.recipient = normalized.e164;
          draft.country = normalized.country;
        }
        if (!hasConsent(row[consent])) {
          draft.verdict = { status: 'suppressed', reason: 'no_consent', detail: `${consent} is ${JSON.stringify(row[consent] ?? null)}` };
          continue;
        }
        const first = userId !== null ? seenUserIds.add(userId) : seenRecipients.add(Number(draft.recipient.slice(1)));
        if (!first) {
          draft.verdict = { status: 'duplicate', reason: 'duplicate_in_segment', detail: 'same recipient as an earlier row of the segment' };
        }
      }
      yield drafts;
    }
  } finally {
    await phones.close();
    await source.return?.();
  }
}

/** Chunks whose phones are parsed ahead of the one being processed. */
const LOOKAHEAD = 2;
