/** `herald.sends` reads that decide a row's fate: earlier sends of the same key, suppressions. */
import type { SendStatus } from '../types.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export interface PriorSend {
  idempotency_key: string;
  run_id: string;
  send_id: string;
  row_key: string;
  status: SendStatus;
  attempts: number;
  reason?: string | null;
}

/**
 * Earlier runs' sends of these keys that block a new attempt: accepted, or unknown (the provider
 * may have it), within the dedupe window when there is one.
 */
export async function findBlockingSends(wh: Warehouse, job: string, runId: string, keys: readonly string[], since: Date | null): Promise<PriorSend[]> {
  if (keys.length === 0) return [];
  return wh.query<PriorSend>(
    'SELECT idempotency_key, run_id, send_id, row_key, status, attempts FROM herald.sends ' +
    'WHERE job = $1 AND idempotency_key IN (SELECT unnest($2::text[])) AND run_id <> $3 ' +
    "AND status IN ('accepted', 'unknown') AND ($4::timestamptz IS NULL OR coalesce(sent_at, created_at) >= $4::timestamptz)",
    [job, keys, runId, since]);
}

/** This run's existing rows among these send ids: a resumed run does not account for them twice. */
export async function findSendsInRun(wh: Warehouse, runId: string, sendIds: readonly string[]): Promise<PriorSend[]> {
  if (sendIds.length === 0) return [];
  return wh.query<PriorSend>(
    'SELECT idempotency_key, run_id, send_id, row_key, status, attempts, reason FROM herald.sends ' +
    'WHERE run_id = $1 AND send_id IN (SELECT unnest($2::text[]))', [runId, sendIds]);
}

/** Which of these recipients are in `herald.suppressions`, with the reason. */
export async function findSuppressed(wh: Warehouse, recipients: readonly string[]): Promise<Map<string, string>> {
  if (recipients.length === 0) return new Map();
  const rows = await wh.query<{ recipient: string; reason: string }>(
    'SELECT recipient, reason FROM herald.suppressions WHERE recipient IN (SELECT unnest($1::text[]))', [recipients]);
  return new Map(rows.map((r) => [r.recipient, r.reason]));
}
