/**
 * Phone numbers to E.164 with libphonenumber-js (full metadata: the number type needs it).
 * Never hand-written rules: formats, national prefixes, full-width digits and country codes
 * written without "+" are all the library's business.
 *
 * Its `/es6` build: the same code and metadata compiled for modern engines, without the ES5
 * helpers (object spread through defineProperty, iterator shims) that took a third of each parse.
 */
import { isSupportedCountry, parsePhoneNumberFromString, parsePhoneNumberWithError, ParseError, type CountryCode, type NumberType, type PhoneNumber } from 'libphonenumber-js/max/es6';

export type PhoneResult =
  /** `country`: the number's ISO region, null for non-geographic numbers. */
  | { ok: true; e164: string; type: NumberType; country: string | null }
  | { ok: false; reason: 'invalid_phone' | 'not_mobile'; detail: string };

// US and CA numbers cannot be told apart from landlines; WhatsApp reaches them, so they count.
const MOBILE_TYPES: ReadonlySet<NumberType> = new Set<NumberType>(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

export function normalizePhone(raw: unknown, defaultRegion: string): PhoneResult {
  const text = raw === null || raw === undefined ? '' : String(raw).trim();
  if (text === '') return { ok: false, reason: 'invalid_phone', detail: 'empty' };
  const parsed = parse(text, defaultRegion);
  if (typeof parsed === 'string') return { ok: false, reason: 'invalid_phone', detail: parsed };
  // The library's getType() is undefined for every invalid number, so a type means a valid number:
  // isValid() (a second pass over the same patterns) is asked only when there is no type.
  const type = parsed.getType();
  if (type === undefined && !parsed.isValid()) {
    return { ok: false, reason: 'invalid_phone', detail: `not a valid ${parsed.country ?? `+${parsed.countryCallingCode}`} number` };
  }
  if (type === undefined || !MOBILE_TYPES.has(type)) {
    return { ok: false, reason: 'not_mobile', detail: `${(type ?? 'unknown type').toLowerCase()} number` };
  }
  return { ok: true, e164: parsed.number, type, country: parsed.country ?? null };
}

/** The parsed number, or why it is not one (the library's ParseError message). */
function parse(text: string, defaultRegion: string): PhoneNumber | string {
  // A supported region: one throwing parse, whose error says why (parsing twice, with and without
  // the error, cost a second parse and a second error per bad row).
  if (isSupportedCountry(defaultRegion)) {
    try {
      return parsePhoneNumberWithError(text, { defaultCountry: defaultRegion });
    } catch (err) {
      if (err instanceof ParseError) return err.message;
      throw err;
    }
  }
  // An unknown region: the lenient parse ignores it (a number in +… form still parses), where the
  // throwing one refuses every number with it; only a failure asks that one for its message.
  return parsePhoneNumberFromString(text, { defaultCountry: defaultRegion as CountryCode }) ?? parseFailure(text, defaultRegion);
}

function parseFailure(text: string, defaultRegion: string): string {
  try {
    parsePhoneNumberWithError(text, { defaultCountry: defaultRegion as CountryCode });
    return 'not a phone number';
  } catch (err) {
    return err instanceof ParseError ? err.message : String(err);
  }
}

/** `+819012345678` → `+81******5678`: enough to recognise, not enough to message. */
export function maskPhone(e164: string | null | undefined): string {
  if (!e164) return '';
  if (e164.length <= 7) return '*'.repeat(e164.length);
  return `${e164.slice(0, 3)}${'*'.repeat(e164.length - 7)}${e164.slice(-4)}`;
}
