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
  created_at: Date | string;
}

/** This run's existing rows among these send ids: a resumed run does not account for them twice. */
export async function findSendsInRun(wh: Warehouse, runId: string, sendIds: readonly string[]): Promise<PriorSend[]> {
  if (sendIds.length === 0) return [];
  return wh.query<PriorSend>(
    'SELECT idempotency_key, run_id, send_id, row_key, status, attempts, reason, created_at FROM herald.sends ' +
    'WHERE run_id = $1 AND send_id IN (SELECT unnest($2::text[]))', [runId, sendIds]);
}

export async function hasSuppressions(wh: Warehouse): Promise<boolean> {
  return (await wh.query('SELECT 1 AS any FROM herald.suppressions LIMIT 1')).length > 0;
}

/** Which of these recipients are in `herald.suppressions`, with the reason. */
export async function findSuppressed(wh: Warehouse, recipients: readonly string[]): Promise<Map<string, string>> {
  if (recipients.length === 0) return new Map();
  const rows = await wh.query<{ recipient: string; reason: string }>(
    'SELECT recipient, reason FROM herald.suppressions WHERE recipient IN (SELECT unnest($1::text[]))', [recipients]);
  return new Map(rows.map((r) => [r.recipient, r.reason]));
}

/** How long "the suppressions table is empty" is trusted before it is asked again. */
const EMPTY_RECHECK_MS = 10_000;

/**
 * Suppressions of a batch of recipients. While the table is empty (a new install, a tenant that
 * never had an opt-out) the per-batch query is skipped; emptiness is re-checked every 10 s so
 * an opt-out landed by a webhook mid-run still applies.
 */
export function suppressionLookup(wh: Warehouse): (recipients: string[]) => Promise<Map<string, string>> {
  let emptyUntil = 0;
  return async (recipients) => {
    if (recipients.length === 0 || Date.now() < emptyUntil) return new Map();
    if (!(await hasSuppressions(wh))) {
      emptyUntil = Date.now() + EMPTY_RECHECK_MS;
      return new Map();
    }
    return findSuppressed(wh, recipients);
  };
}
