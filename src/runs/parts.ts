/**
 * Parts of a run: part i of P handles the segment rows whose recipient (E.164, or the row key when
 * the row has no valid recipient) hashes to i mod P. All rows to one recipient are in one part, so
 * in-run dedupe and the pair rate stay whole; a rejected row is landed by exactly one part.
 */
import type { Draft } from '../types.js';

/** Part `index` of `of` (0 ≤ index < of). */
export interface RunPart {
  runId: string;
  index: number;
  of: number;
}

/** Parts per run on PostgreSQL when the job does not say (`delivery.parts`). */
export const DEFAULT_PARTS = 4;

/** The part a row belongs to: FNV-1a (32-bit) of its recipient, else its row key, mod `of`. */
export function partOf(recipient: string | null, rowKey: string, of: number): number {
  const key = recipient ?? rowKey;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % of;
}

/** The normalized rows of one part; the rest belong to the other parts. */
export async function* keepPart(drafts: AsyncIterable<Draft[]>, part: RunPart): AsyncGenerator<Draft[]> {
  for await (const batch of drafts) {
    const kept = batch.filter((d) => partOf(d.recipient, d.rowKey, part.of) === part.index);
    if (kept.length > 0) yield kept;
  }
}
