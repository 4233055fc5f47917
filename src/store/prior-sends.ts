/**
 * The job's earlier sends that block a new attempt, loaded once when a run starts, into compact
 * hash sets: accepted, unknown (the provider may have it), and keys the job leaves alone until
 * their `not_before` (a permanent failure, a deferral). Looking them up per batch instead scanned
 * the whole of herald.sends for every 2,048 rows on DuckDB (quadratic in the job's history). The
 * job lock keeps other runs of the job from adding keys while this one runs.
 *
 * Another run's `in_flight` row counts as unknown: its request may be on its way. A run in parts
 * (runs/parts.ts) leaves a dead part's rows in flight until a worker resumes that part, and a part
 * that lost its lock settles what it has in flight while the next holder of the lock starts.
 */
import { StringHashSet } from '../util/compact-set.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export type PriorBlock = 'accepted' | 'unknown' | 'failed' | 'deferred';

export interface PriorSends {
  /** Why an earlier run blocks this idempotency key, the strongest reason first; undefined when none does. */
  statusOf(idempotencyKey: string): PriorBlock | undefined;
  readonly size: number;
}

/** Strongest first: an acceptance outweighs a later failure of the same key. */
const ORDER: readonly PriorBlock[] = ['accepted', 'unknown', 'failed', 'deferred'];

export async function loadPriorSends(wh: Warehouse, job: string, runId: string, since: Date | null, now: Date): Promise<PriorSends> {
  const sets = new Map<PriorBlock, StringHashSet>(ORDER.map((s) => [s, new StringHashSet()]));
  let size = 0;
  const stream = await wh.stream(
    'SELECT idempotency_key, status FROM herald.sends WHERE job = $1 AND run_id <> $2 AND (' +
    "(status IN ('accepted', 'unknown', 'in_flight') AND ($3::timestamptz IS NULL OR coalesce(sent_at, created_at) >= $3::timestamptz)) " +
    "OR (status IN ('failed', 'deferred') AND not_before > $4::timestamptz))",
    [job, runId, since, now]);
  for await (const rows of stream.chunks) {
    for (const r of rows) {
      sets.get(r.status === 'in_flight' ? 'unknown' : r.status as PriorBlock)!.add(r.idempotency_key as string);
      size++;
    }
  }
  return {
    size,
    statusOf: (key) => ORDER.find((s) => sets.get(s)!.has(key)),
  };
}
