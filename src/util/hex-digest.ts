/** Stable ids from their parts: one-shot sha256 (no Hash object per call, several calls per row). */
import { hash } from 'node:crypto';

/** sha256 of the parts joined by U+001F, hex, cut to `length` characters. */
export function hexDigest(parts: readonly string[], length: number): string {
  return hash('sha256', parts.join('\u001f'), 'hex').slice(0, length);
}
