/**
 * WhatsApp business-scoped user ids (BSUID, docs/providers/meta-2026.md §1): `<ISO region>.<up to
 * 128 alphanumerics>`, or the parent form `<region>.ENT.<id>` shared by linked portfolios. A
 * recipient that is not E.164 (`+` and digits) is one of these.
 */
import { getCountry } from 'countries-and-timezones';

export const BSUID_PATTERN = /^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$/;

export function isBsuid(v: unknown): boolean {
  return typeof v === 'string' && BSUID_PATTERN.test(v);
}

/** The BSUID as text when `v` is one, else null (vendor JSON: anything may be in the field). */
export function bsuid(v: unknown): string | null {
  return typeof v === 'string' && BSUID_PATTERN.test(v) ? v : null;
}

/** Why `value` is not a BSUID, for a row's rejection detail; null when it is one. */
export function bsuidProblem(value: string): string | null {
  if (isBsuid(value)) return null;
  if (!/^[A-Z]{2}\./.test(value)) return 'does not start with a two-letter region and a dot (e.g. US.13491208655302741918)';
  const id = value.slice(3).replace(/^ENT\./, '');
  if (id === '') return 'has no id after the region';
  if (id.length > 128) return `has an id of ${id.length} characters, more than 128`;
  return 'has characters other than letters and digits in its id';
}

/** The region a BSUID starts with, when it is a known country (`US.1349…` → US). */
export function bsuidCountry(id: string): string | null {
  const region = id.slice(0, 2);
  return isBsuid(id) && getCountry(region) ? region : null;
}
