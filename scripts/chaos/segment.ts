/**
 * The chaos segment: a few thousand rows with phone numbers that libphonenumber-js (the library
 * herald normalizes with) accepts as valid US numbers, plus a few rows herald must not send
 * (invalid phone, no consent). Each row carries its ground truth, so eligibility is decided here
 * and not by asking herald.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { Rng } from './rng.js';

export interface SegmentRow {
  customer_id: string;
  /** As written in the warehouse: one of several common formats (the job's default region is US). */
  phone: string;
  first_name: string;
  whatsapp_opt_in: string;
  ord: number;
  /** Ground truth: the E.164 digits herald should send to, or null when the phone is invalid. */
  recipient: string | null;
  consent: boolean;
}

/** Real US area codes; each gives 100 numbers 555-0100 … 555-0199 (fictional lines, valid numbers). */
const AREA_CODES = [
  201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229, 231, 234, 239,
  240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301, 302, 303, 304, 305, 307, 308, 309, 310, 312,
  313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 325, 330, 334, 336, 337, 339, 347, 351, 352, 360, 361, 385, 386, 401,
];

const NAMES = ['Ava', 'Noah', 'Mia', 'Liam', 'Zoë', 'Mateo', 'Hana', 'Kenji', 'Amara', 'José', 'Priya', 'Olu'];
const INVALID_PHONES = ['n/a', '555-01', '+1 200 555 0100', '12345', ''];
const MOBILE_TYPES = new Set(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

/** Digits of a valid US number that herald treats as reachable, or null. */
export function validUsRecipient(text: string): string | null {
  const parsed = parsePhoneNumberFromString(text, { defaultCountry: 'US' });
  if (!parsed?.isValid() || !MOBILE_TYPES.has(parsed.getType() ?? '')) return null;
  return parsed.number.slice(1);
}

function* validNumbers(): Generator<{ area: number; line: string }> {
  for (const area of AREA_CODES) {
    for (let i = 0; i < 100; i++) {
      const line = `01${String(i).padStart(2, '0')}`;
      if (validUsRecipient(`+1${area}555${line}`)) yield { area, line };
    }
  }
}

/** `rows` rows: ~2% invalid phones, ~3% without consent, every valid phone distinct. */
export function generateSegment(rows: number, rng: Rng): SegmentRow[] {
  const numbers = validNumbers();
  const out: SegmentRow[] = [];
  for (let ord = 0; ord < rows; ord++) {
    const customer_id = `cust_${String(ord).padStart(6, '0')}`;
    const first_name = rng.pick(NAMES);
    const consent = !rng.chance(0.03);
    const whatsapp_opt_in = consent ? rng.pick(['true', 'yes', '1']) : rng.pick(['false', 'no', '0']);
    if (rng.chance(0.02)) {
      const phone = rng.pick(INVALID_PHONES);
      out.push({ customer_id, phone, first_name, whatsapp_opt_in, ord, recipient: validUsRecipient(phone), consent });
      continue;
    }
    const next = numbers.next();
    if (next.done) throw new Error(`the chaos segment has at most ${AREA_CODES.length * 100} valid numbers; asked for ${rows} rows`);
    const { area, line } = next.value;
    const phone = rng.pick([`+1 ${area}-555-${line}`, `(${area}) 555-${line}`, `1${area}555${line}`, `${area}.555.${line}`]);
    out.push({ customer_id, phone, first_name, whatsapp_opt_in, ord, recipient: `1${area}555${line}`, consent });
  }
  return out;
}

export interface Truth {
  /** Recipients herald must message exactly once over the scenario. */
  eligible: Set<string>;
  /** Recipients the stand-in always refuses with 131026 (undeliverable): permanent failures. */
  undeliverable: Set<string>;
}

/** Eligible = valid phone, consent, and not in the provider's undeliverable subset (~2%, fixed by the seed). */
export function groundTruth(rows: readonly SegmentRow[], rng: Rng, undeliverableRatio = 0.02): Truth {
  const eligible = new Set<string>();
  const undeliverable = new Set<string>();
  for (const row of rows) {
    if (!row.recipient || !row.consent) continue;
    if (rng.chance(undeliverableRatio)) undeliverable.add(row.recipient);
    else eligible.add(row.recipient);
  }
  return { eligible, undeliverable };
}
