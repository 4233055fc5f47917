/**
 * The job's earlier sends that block a new attempt (accepted, or unknown: the provider may have
 * it), loaded once when a run starts, into compact hash sets. Looking them up per batch instead
 * scanned the whole of herald.sends for every 2,048 rows on DuckDB (quadratic in the job's
 * history). The job lock keeps other runs of the job from adding keys while this one runs.
 */
import { StringHashSet } from '../util/compact-set.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export interface PriorSends {
  /** The blocking status of an idempotency key in earlier runs, accepted winning over unknown. */
  statusOf(idempotencyKey: string): 'accepted' | 'unknown' | undefined;
  readonly size: number;
}

export async function loadPriorSends(wh: Warehouse, job: string, runId: string, since: Date | null): Promise<PriorSends> {
  const accepted = new StringHashSet();
  const unknown = new StringHashSet();
  let size = 0;
  const stream = await wh.stream(
    'SELECT idempotency_key, status FROM herald.sends WHERE job = $1 AND run_id <> $2 ' +
    "AND status IN ('accepted', 'unknown') AND ($3::timestamptz IS NULL OR coalesce(sent_at, created_at) >= $3::timestamptz)",
    [job, runId, since]);
  for await (const rows of stream.chunks) {
    for (const r of rows) {
      (r.status === 'accepted' ? accepted : unknown).add(r.idempotency_key as string);
      size++;
    }
  }
  return {
    size,
    statusOf: (key) => (accepted.has(key) ? 'accepted' : unknown.has(key) ? 'unknown' : undefined),
  };
}
