/**
 * A seeded sample segment with the mess real CDP exports have: numbers with and without country
 * codes, spaces, dashes, parentheses, national leading 0, full-width digits, landlines, garbage,
 * repeated keys and phones, empty and emoji names, consent false. Each row carries `planted`: the
 * fate herald must give it (`send`, or `status/reason`), so a run can be checked against it.
 * Numbers are generated, and each is checked with libphonenumber-js to be what it is planted as.
 */
import { normalizePhone } from '../pipeline/phone.normalize.js';

export interface SampleRow {
  customer_id: string;
  phone: string;
  first_name: string;
  points: number;
  expires_on: string;
  coupon_path: string;
  whatsapp_opt_in: string;
  planted: string;
}

/** mulberry32: small, fast, good enough to pick sample data repeatably. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST_NAMES = ['Haruto', 'Yui', 'Sota', 'Hina', '陽翔', '結衣', 'さくら', 'Budi', 'Siti', 'Wei Ling', 'Aarav', 'Priya', 'Lucas', 'Olivia', 'José', 'Ana'];

export function* sampleSegment(rows: number, seed = 7): Generator<SampleRow> {
  const rand = seededRandom(seed);
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 10)).join('');
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const sendable: SampleRow[] = [];
  const usedRecipients = new Set<string>();
  const all: SampleRow[] = [];

  /** A mobile number in one of the formats people type, checked to normalize. */
  const mobile = (): string => {
    for (;;) {
      const local = digits(8);
      const jp = `90${local}`;
      const candidates = [
        `090-${local.slice(0, 4)}-${local.slice(4)}`, `+81 90 ${local.slice(0, 4)} ${local.slice(4)}`, `81${jp}`,
        `(090) ${local.slice(0, 4)}-${local.slice(4)}`, toFullWidth(`090${local}`), `090 ${local.slice(0, 4)} ${local.slice(4)}`,
        `+1 201-${pick(['555', '766', '832'])}-${digits(4)}`, `+44 7911 ${digits(6)}`, `+62 812-${digits(4)}-${digits(4)}`, `+65 9${digits(3)} ${digits(4)}`,
        `+55 11 9${digits(4)}-${digits(4)}`, `+91 98${digits(3)} ${digits(5)}`,
      ];
      const phone = pick(candidates);
      const normalized = normalizePhone(phone, 'JP');
      // Only the rows planted as repeats may share a recipient.
      if (normalized.ok && !usedRecipients.has(normalized.e164)) {
        usedRecipients.add(normalized.e164);
        return phone;
      }
    }
  };
  const landline = (): string => {
    for (;;) {
      const phone = `03-${digits(4)}-${digits(4)}`;
      const r = normalizePhone(phone, 'JP');
      if (!r.ok && r.reason === 'not_mobile') return phone;
    }
  };

  for (let i = 0; i < rows; i++) {
    const row: SampleRow = {
      customer_id: `c${String(i + 1).padStart(7, '0')}`,
      phone: mobile(),
      first_name: pick(FIRST_NAMES),
      points: Math.floor(rand() * 20_000),
      expires_on: `2027-0${1 + Math.floor(rand() * 9)}-1${Math.floor(rand() * 10)}`,
      coupon_path: `c/${digits(6)}`,
      whatsapp_opt_in: pick(['true', 'true', 'TRUE', 'yes', '1']),
      planted: 'send',
    };
    const roll = rand();
    if (roll < 0.04) [row.phone, row.planted] = [pick(['', 'n/a', 'abc-defg', '12345', '+999 1234', '0000']), 'rejected/invalid_phone'];
    else if (roll < 0.07) [row.phone, row.planted] = [landline(), 'rejected/not_mobile'];
    else if (roll < 0.15) [row.whatsapp_opt_in, row.planted] = [pick(['false', 'no', '0', '']), 'suppressed/no_consent'];
    else if (roll < 0.16 && all.length > 0) [row.customer_id, row.planted] = [pick(all).customer_id, 'duplicate/duplicate_in_segment'];
    else if (roll < 0.17 && sendable.length > 0) [row.phone, row.planted] = [pick(sendable).phone, 'duplicate/duplicate_in_segment'];
    else if (roll < 0.19) [row.first_name, row.planted] = ['', 'rejected/missing_variable'];
    else if (roll < 0.195) [row.first_name, row.planted] = ['x'.repeat(1025), 'rejected/variable_too_long'];
    else if (roll < 0.2) [row.first_name, row.planted] = ['Line\nbreak', 'rejected/invalid_variable'];
    else if (roll < 0.23) row.first_name = pick(['🌸 Hana', 'Ken 🎉', '👩🏽‍💻']);
    all.push(row);
    if (row.planted === 'send') sendable.push(row);
    yield row;
  }
}

function toFullWidth(text: string): string {
  return text.replace(/[0-9]/g, (d) => String.fromCharCode(d.charCodeAt(0) + 0xfee0));
}
