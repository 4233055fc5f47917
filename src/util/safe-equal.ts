/** Compares a presented secret with the expected one in constant time. */
import { timingSafeEqual } from 'node:crypto';

export function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // Compare against itself on a length mismatch, so the time does not depend on where they differ.
  return timingSafeEqual(a.length === b.length ? a : b, b) && a.length === b.length;
}
