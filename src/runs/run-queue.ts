/**
 * The run queue on PostgreSQL: runs enqueued in parts, and parts claimed by workers.
 *
 *   enqueue   one run row (status queued) and its part rows, once per (job, run key)
 *   claim     a queued part, or a running one whose lease ran out (its worker died), with
 *             FOR UPDATE SKIP LOCKED and the part's own advisory lock; the claim is a lease
 *   renew     the worker's heartbeat; it fails once another worker holds the part or the run
 *             was aborted, and the part then stops at once
 *   finish    the part's end; the worker that ends a run's last part writes the run's status
 *             and counts, in the same transaction (the run row is locked first, so two parts
 *             ending together see each other)
 *
 * Plain SQL on herald's own tables rather than a job library (graphile-worker, pg-boss): a part
 * is not a job to run once but a lease on a slice of a run that the ledger resumes, and herald
 * needs no schema, daemon or migration of anyone else's for it.
 */
import type { SegmentParams } from '../pipeline/segment.js';
import { newRunId } from '../pipeline/identity.js';
import { countSends, type StoredRun } from '../store/runs.store.js';
import { SEND_STATUSES, type RunCounts, type RunRecord } from '../types.js';
import type { PostgresWarehouse, TransactionQuery } from '../warehouse/postgres.warehouse.js';
import type { HeldLock } from '../warehouse/warehouse.js';

export type PartStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted';

export interface EnqueueRequest {
  job: string;
  runKey: string;
  dryRun: boolean;
  params?: SegmentParams;
  parts: number;
}

/** The run of the key (new or existing), or the other run of the job that is not done yet. */
export type Enqueued = { run_id: string; created: boolean } | { busy: { run_id: string; run_key: string } };

/** A part this worker holds: its lease in herald.run_parts and its advisory lock. */
export interface ClaimedPart {
  part_id: string;
  run_id: string;
  part: number;
  parts: number;
  /** Claims of this part so far, this one included. */
  attempts: number;
  job: string;
  run_key: string;
  dry_run: boolean;
  params: SegmentParams | undefined;
  lock: HeldLock;
}

/**
 * How a part ended. `released`: it stopped without finishing (shutdown, claim lost, warehouse
 * lost) and goes back to the queue, for another worker at once or after `notBeforeMs`.
 */
export type PartEnd = 'succeeded' | 'failed' | 'aborted' | 'released';

const UNFINISHED = "('queued', 'running')";
/** Lease arithmetic in the database's clock: every worker's lease is measured by the same one. */
const IN_MS = "now() + $3 * interval '1 millisecond'";

/**
 * One run per (job, run key), whichever instance is asked, at once: an existing run is answered
 * as it is (succeeded, queued, running), an aborted or failed one is queued again (its parts not
 * succeeded go back to the queue). Another run of the job not done yet makes it busy: one run of
 * a job at a time.
 */
export async function enqueueRun(wh: PostgresWarehouse, r: EnqueueRequest, now = new Date()): Promise<Enqueued> {
  return wh.transaction(async (q) => {
    // Serializes enqueues of the job (held until commit): the busy check and the insert are one step.
    await q('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`herald:enqueue:${r.job}`]);
    const [existing] = await q<StoredRun>('SELECT * FROM herald.runs WHERE job = $1 AND run_key = $2', [r.job, r.runKey]);
    if (existing && !(await resumable(wh, existing))) return { run_id: existing.run_id, created: false };
    const [busy] = await q<{ run_id: string; run_key: string }>(
      `SELECT run_id, run_key FROM herald.runs WHERE job = $1 AND run_key <> $2 AND status IN ${UNFINISHED} AND parts IS NOT NULL LIMIT 1`, [r.job, r.runKey]);
    if (busy) return { busy };
    if (existing) {
      const parts = existing.parts ?? r.parts;
      await q("UPDATE herald.runs SET status = 'queued', finished_at = NULL, error = NULL, parts = $2 WHERE run_id = $1", [existing.run_id, parts]);
      await insertParts(q, existing.run_id, parts);
      return { run_id: existing.run_id, created: false };
    }
    const runId = newRunId(now);
    const inserted = await q<{ run_id: string }>(
      "INSERT INTO herald.runs (run_id, job, run_key, status, dry_run, started_at, parts, params) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7::json) " +
      'ON CONFLICT (job, run_key) DO NOTHING RETURNING run_id',
      [runId, r.job, r.runKey, r.dryRun, now, r.parts, r.params ? JSON.stringify(r.params) : null]);
    if (inserted.length === 0) {
      // Unreachable while the enqueue lock is held; the unique index makes sure of it anyway.
      const [winner] = await q<{ run_id: string }>('SELECT run_id FROM herald.runs WHERE job = $1 AND run_key = $2', [r.job, r.runKey]);
      return { run_id: winner!.run_id, created: false };
    }
    await insertParts(q, runId, r.parts);
    return { run_id: runId, created: true };
  });
}

/**
 * Aborted and failed runs go again. So does a whole run (`herald run`, or a serve of an earlier
 * herald) left `running` by a process that died: no one holds its job lock.
 */
async function resumable(wh: PostgresWarehouse, run: StoredRun): Promise<boolean> {
  if (run.status === 'aborted' || run.status === 'failed') return true;
  if (run.status !== 'running' || run.parts != null) return false;
  const lock = await wh.tryLock(`herald:job:${run.job}`);
  await lock?.release();
  return lock !== null;
}

/** The run's parts, queued; parts that ended aborted or failed are queued again, succeeded ones stay. */
async function insertParts(q: TransactionQuery, runId: string, parts: number): Promise<void> {
  await q(
    "INSERT INTO herald.run_parts (part_id, run_id, part, parts, status, attempts) SELECT $1::text || ':' || i, $1::text, i, $2::int, 'queued', 0 " +
    'FROM generate_series(0, $2::int - 1) AS i ' +
    "ON CONFLICT (part_id) DO UPDATE SET status = 'queued', claimed_by = NULL, lease_until = NULL, finished_at = NULL, error = NULL " +
    "WHERE herald.run_parts.status IN ('aborted', 'failed')", [runId, parts]);
}

/**
 * A part for `worker`, leased for `leaseMs`, or null when none is free: queued parts (oldest run
 * first), and running parts whose lease ran out. A part whose advisory lock is still held (its
 * worker is alive but late to renew) is left alone: two workers never run one part.
 */
export async function claimPart(wh: PostgresWarehouse, worker: string, leaseMs: number): Promise<ClaimedPart | null> {
  return wh.transaction(async (q) => {
    const candidates = await q<Omit<ClaimedPart, 'lock' | 'params'> & { params: unknown }>(
      'SELECT p.part_id, p.run_id, p.part, p.parts, p.attempts, r.job, r.run_key, r.dry_run, r.params ' +
      'FROM herald.run_parts p JOIN herald.runs r ON r.run_id = p.run_id ' +
      `WHERE r.status IN ${UNFINISHED} ` +
      "AND ((p.status = 'queued' AND (p.lease_until IS NULL OR p.lease_until <= now())) OR (p.status = 'running' AND p.lease_until <= now())) " +
      'ORDER BY r.started_at, p.part LIMIT 8 FOR UPDATE OF p SKIP LOCKED');
    for (const c of candidates) {
      const lock = await wh.tryLock(`herald:part:${c.part_id}`);
      if (!lock) continue;
      try {
        await q(`UPDATE herald.run_parts SET status = 'running', claimed_by = $2, lease_until = ${IN_MS}, attempts = attempts + 1, ` +
          'started_at = coalesce(started_at, now()), finished_at = NULL, error = NULL WHERE part_id = $1', [c.part_id, worker, leaseMs]);
        // SKIP LOCKED: a part ending now holds the run row (finishPart locks it before its part);
        // waiting here, holding this part's row, could deadlock with it. Such a run is running already.
        await q("UPDATE herald.runs SET status = 'running' WHERE run_id = (SELECT run_id FROM herald.runs WHERE run_id = $1 AND status = 'queued' FOR UPDATE SKIP LOCKED)", [c.run_id]);
      } catch (err) {
        await lock.release();
        throw err;
      }
      const params = typeof c.params === 'string' ? JSON.parse(c.params) as SegmentParams : (c.params ?? undefined) as SegmentParams | undefined;
      return { ...c, attempts: Number(c.attempts) + 1, part: Number(c.part), parts: Number(c.parts), dry_run: Boolean(c.dry_run), params, lock };
    }
    return null;
  });
}

/** The heartbeat: true while `worker` still holds the part and its run is not aborted. */
export async function renewClaim(wh: PostgresWarehouse, partId: string, worker: string, leaseMs: number): Promise<boolean> {
  const renewed = await wh.query(
    `UPDATE herald.run_parts p SET lease_until = ${IN_MS} FROM herald.runs r ` +
    "WHERE p.part_id = $1 AND p.claimed_by = $2 AND p.status = 'running' AND r.run_id = p.run_id AND r.status <> 'aborted' RETURNING p.part_id",
    [partId, worker, leaseMs]);
  return renewed.length > 0;
}

export interface PartEnding {
  end: PartEnd;
  error: string | null;
  /** `aborted` by the provider (the account refused): the whole run stops, its queued parts too. */
  abortRun?: boolean;
  /** `released`: no worker claims it again before this (another process holds the job lock). */
  notBeforeMs?: number;
}

/** What finishPart did; the ending of the run's last part also carries the run's end (for its log line and metrics). */
export interface PartFinished {
  recorded: boolean;
  runEnded?: RunRecord['status'];
  counts?: RunCounts;
  startedAt?: Date | null;
}

/**
 * Records the end of a part `worker` holds; a part someone else holds now is not touched
 * (`recorded: false`). The last part to end writes the run's status and counts: aborted if a
 * part was, else failed if a part was, else succeeded.
 */
export async function finishPart(wh: PostgresWarehouse, part: Pick<ClaimedPart, 'part_id' | 'run_id'>, worker: string, e: PartEnding): Promise<PartFinished> {
  return wh.transaction(async (q) => {
    const [run] = await q<{ status: string; started_at: Date }>('SELECT status, started_at FROM herald.runs WHERE run_id = $1 FOR UPDATE', [part.run_id]);
    // A part of an aborted run does not go back to the queue: it ends with the run.
    const end = e.end === 'released' && run?.status === 'aborted' ? 'aborted' : e.end;
    if (end === 'released') {
      const released = await q(`UPDATE herald.run_parts SET status = 'queued', claimed_by = NULL, lease_until = ${IN_MS}, error = $4 ` +
        'WHERE part_id = $1 AND claimed_by = $2 RETURNING part_id', [part.part_id, worker, e.notBeforeMs ?? 0, e.error]);
      return { recorded: released.length > 0 };
    }
    // claimed_by stays: who ran the part to its end.
    const ended = await q('UPDATE herald.run_parts SET status = $3, lease_until = NULL, finished_at = now(), error = $4 ' +
      'WHERE part_id = $1 AND claimed_by = $2 RETURNING part_id', [part.part_id, worker, end, e.error]);
    if (ended.length === 0) return { recorded: false };
    if (end === 'aborted' && e.abortRun && run?.status !== 'aborted') {
      // Running parts see it at their next renewal and stop; queued ones never start.
      await q("UPDATE herald.runs SET status = 'aborted', error = $2 WHERE run_id = $1", [part.run_id, e.error]);
      await q("UPDATE herald.run_parts SET status = 'aborted', finished_at = now(), error = 'another part of the run was aborted' " +
        "WHERE run_id = $1 AND status = 'queued'", [part.run_id]);
    }
    const [tally] = await q<{ open: string | number; aborted: string | number; failed: string | number; errors: string | null }>(
      `SELECT count(*) FILTER (WHERE status IN ${UNFINISHED}) AS open, count(*) FILTER (WHERE status = 'aborted') AS aborted, ` +
      "count(*) FILTER (WHERE status = 'failed') AS failed, string_agg(DISTINCT error, '; ') FILTER (WHERE status IN ('aborted', 'failed')) AS errors " +
      'FROM herald.run_parts WHERE run_id = $1', [part.run_id]);
    if (Number(tally!.open) > 0) return { recorded: true };
    const status: RunRecord['status'] = Number(tally!.aborted) > 0 ? 'aborted' : Number(tally!.failed) > 0 ? 'failed' : 'succeeded';
    const counts = await countSends({ query: q }, part.run_id);
    const columns = ['audience', ...SEND_STATUSES];
    await q(`UPDATE herald.runs SET status = $2, finished_at = now(), error = coalesce(error, $3), ${columns.map((c, i) => `${c} = $${i + 4}`).join(', ')} WHERE run_id = $1`,
      [part.run_id, status, status === 'succeeded' ? null : tally!.errors, ...columns.map((c) => counts[c as keyof typeof counts])]);
    return { recorded: true, runEnded: status, counts, startedAt: run ? new Date(run.started_at) : null };
  });
}

/** How many of the run's parts are in each state. */
export async function partStatuses(wh: PostgresWarehouse, runId: string): Promise<Partial<Record<PartStatus, number>>> {
  const rows = await wh.query<{ status: PartStatus; n: string | number }>('SELECT status, count(*) AS n FROM herald.run_parts WHERE run_id = $1 GROUP BY status', [runId]);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}
