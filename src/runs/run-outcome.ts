/**
 * A run's outcome as a workflow reads it from the run API: the failure ratio and the exit code
 * `herald run` gives for a run that ended so (DESIGN "CLI": 0 completed, 1 aborted or failed,
 * 3 completed with a failure ratio above `delivery.max_failure_ratio`). Null while the run has
 * not ended: its counts still move.
 */
import type { RunCounts, RunRecord } from '../types.js';

export interface RunOutcome {
  /** failed / (accepted + failed + unknown); 0 when nothing was attempted. */
  failure_ratio: number | null;
  exit_code: 0 | 1 | 3 | null;
}

const ENDED: ReadonlySet<RunRecord['status']> = new Set(['succeeded', 'failed', 'aborted']);

export function runOutcome(status: RunRecord['status'], counts: Pick<RunCounts, 'accepted' | 'failed' | 'unknown'>, maxFailureRatio: number | undefined): RunOutcome {
  if (!ENDED.has(status)) return { failure_ratio: null, exit_code: null };
  const attempted = counts.accepted + counts.failed + counts.unknown;
  const ratio = attempted === 0 ? 0 : counts.failed / attempted;
  if (status !== 'succeeded') return { failure_ratio: ratio, exit_code: 1 };
  return { failure_ratio: ratio, exit_code: maxFailureRatio !== undefined && ratio > maxFailureRatio ? 3 : 0 };
}
