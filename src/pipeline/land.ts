/**
 * Land: the settled sends are already durable (dispatch writes them through the ledger before it
 * yields them); land tallies them for progress and, at the end, writes the run's counts from the
 * table itself, so a resumed run's counts include what its earlier attempt landed.
 */
import type { SendRecord, SendStatus } from '../types.js';

export interface Tally {
  rows: number;
  byStatus: Partial<Record<SendStatus, number>>;
  /** The segment's row count, once a separate count query has answered (for progress and ETA). */
  total?: number;
}

export async function land(records: AsyncIterable<SendRecord[]>, onProgress?: (tally: Tally) => void): Promise<Tally> {
  const tally: Tally = { rows: 0, byStatus: {} };
  for await (const batch of records) {
    for (const r of batch) tally.byStatus[r.status] = (tally.byStatus[r.status] ?? 0) + 1;
    tally.rows += batch.length;
    onProgress?.(tally);
  }
  return tally;
}
