/** Deterministic ids: the same row in the same job (and scope) always gets the same keys. */
import { hexDigest as digest } from '../util/hex-digest.js';
import { durationMs, type Dedupe } from '../config/job.schema.js';

/** hash(job, row key, dedupe scope): a re-run finds the keys it already sent. */
export function idempotencyKey(job: string, rowKey: string, dedupe: Dedupe, runId: string): string {
  const scope = dedupe === 'run' ? `run:${runId}` : dedupe === 'job' ? 'job' : 'window';
  return digest([job, rowKey, scope], 40);
}

/**
 * One send per row per run; retries and resumes reuse it (it is the provider's callback data and
 * Infobip's messageId). A later row repeating a key gets its own id from its position.
 */
export function sendId(runId: string, rowKey: string, repeatOrdinal?: number): string {
  return digest([runId, rowKey, repeatOrdinal === undefined ? '' : `#${repeatOrdinal}`], 32);
}

/** Start of the dedupe window, or null when every earlier send counts. */
export function dedupeSince(dedupe: Dedupe, now: Date): Date | null {
  if (typeof dedupe === 'string') return null;
  return new Date(now.getTime() - durationMs(dedupe.window));
}

export function newRunId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').toLowerCase();
  return `r${stamp}_${digest([String(now.getTime()), String(Math.random()), String(process.pid)], 8)}`;
}
