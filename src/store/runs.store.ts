/**
 * `herald.runs`: one row per run, created when it starts (or is enqueued) and settled with counts
 * when it ends. The parts of enqueued runs are src/runs/run-queue.ts's.
 */
import { SEND_STATUSES, type RunCounts, type RunRecord, type SendStatus } from '../types.js';
import { RUNS } from '../warehouse/tables.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export type StoredRun = RunRecord & Partial<RunCounts> & {
  /** Set on a run enqueued in parts (PostgreSQL); null on a whole run. */
  parts?: number | null;
  /** The segment params an enqueued run's parts bind (JSON text or object, as the engine returns it). */
  params?: unknown;
};

export async function findRunByKey(wh: Warehouse, job: string, runKey: string): Promise<StoredRun | undefined> {
  const rows = await wh.query<StoredRun>('SELECT * FROM herald.runs WHERE job = $1 AND run_key = $2', [job, runKey]);
  return rows[0];
}

export async function findRun(wh: Warehouse, runId: string): Promise<StoredRun | undefined> {
  return (await wh.query<StoredRun>('SELECT * FROM herald.runs WHERE run_id = $1', [runId]))[0];
}

export async function insertRun(wh: Warehouse, run: RunRecord): Promise<void> {
  await wh.insert(RUNS, [{ ...run }]);
}

/** Whole runs of the job left `running`: alive in the process holding the job lock, or dead. */
export async function findRunningRuns(wh: Warehouse, job: string): Promise<StoredRun[]> {
  // Runs in parts are left to their workers: a part's lease, not the job lock, says whether it lives.
  return wh.query<StoredRun>("SELECT * FROM herald.runs WHERE job = $1 AND status = 'running' AND parts IS NULL ORDER BY started_at DESC", [job]);
}

export async function abortRuns(wh: Warehouse, runIds: readonly string[], now: Date): Promise<void> {
  await wh.update(RUNS, runIds.map((run_id) => ({ run_id, status: 'aborted', finished_at: now, error: 'the process ended before the run finished' })),
    ['status', 'finished_at', 'error']);
}

/** The run's sends by status; `wh` may be a transaction's query (src/runs/run-queue.ts). */
export async function countSends(wh: Pick<Warehouse, 'query'>, runId: string): Promise<RunCounts> {
  const rows = await wh.query<{ status: SendStatus; n: number }>(
    'SELECT status, count(*) AS n FROM herald.sends WHERE run_id = $1 GROUP BY status', [runId]);
  const counts = Object.fromEntries(SEND_STATUSES.map((s) => [s, 0])) as RunCounts;
  counts.audience = 0;
  for (const { status, n } of rows) {
    counts[status] = Number(n);
    counts.audience += Number(n);
  }
  return counts;
}

export async function finishRun(wh: Warehouse, runId: string, status: RunRecord['status'], counts: RunCounts, error: string | null): Promise<void> {
  await wh.update(RUNS, [{ run_id: runId, status, finished_at: new Date(), error, ...counts }],
    ['status', 'finished_at', 'error', 'audience', ...SEND_STATUSES]);
}
