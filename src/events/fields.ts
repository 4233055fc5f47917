/**
 * Small readers for vendor JSON, shared by the webhook parsers: vendor payloads are `unknown`
 * until a field is read, and a missing or oddly typed field reads as null, never as a crash.
 */
import { hexDigest } from '../util/hex-digest.js';

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The array at `v`, or [] (a missing list is an empty list). */
export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A string or number as text; anything else (objects, booleans, '') is null. */
export function text(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** The value at a dot path (`a.b.0.c`). */
export function atPath(v: unknown, path: string): unknown {
  let cur = v;
  for (const key of path.split('.')) {
    if (Array.isArray(cur) && /^\d+$/.test(key)) cur = cur[Number(key)];
    else if (isObject(cur)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

/**
 * A WhatsApp user's number as E.164 (`+` and digits) from what vendors send (`16505551234`,
 * `+1 650…`): the digits, when there are 7 to 15 of them; else null.
 */
export function e164(v: unknown): string | null {
  const raw = text(v);
  if (raw === null) return null;
  const digits = raw.replace(/\D/g, '');
  return digits.length >= 7 && digits.length <= 15 ? `+${digits}` : null;
}

/** Unix seconds (Meta's `"1750030073"`), milliseconds (13 digits) or an ISO-8601 time; else null. */
export function parseTime(v: unknown): Date | null {
  const raw = text(v);
  if (raw === null) return null;
  if (/^\d{9,11}$/.test(raw)) return new Date(Number(raw) * 1000);
  if (/^\d{12,14}$/.test(raw)) return new Date(Number(raw));
  // Infobip writes offsets without a colon (`-0300`) as well as with one: Date accepts only the latter.
  const iso = raw.trim().replace(/ /, 'T').replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A short stable digest of a JSON value, for event ids of events that carry no id of their own. */
export function digest(v: unknown): string {
  return hexDigest([JSON.stringify(v) ?? ''], 24);
}
