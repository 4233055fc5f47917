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

/**
 * Which of these recipients (E.164 numbers or BSUIDs) are suppressed, with the reason: by their
 * own suppression, or by one of an identity they share a `herald.identities` row with (its phone,
 * BSUID or parent BSUID). So a STOP from a username-only user, suppressed by BSUID, holds a row
 * that gives the phone, and a phone's opt-out holds a row that gives its BSUID. One hop: the
 * pairs Meta showed, never chains of them.
 */
export async function findSuppressed(wh: Warehouse, recipients: readonly string[]): Promise<Map<string, string>> {
  if (recipients.length === 0) return new Map();
  const linked = await linkedIdentities(wh, recipients);
  const keys = [...new Set([...recipients, ...[...linked.values()].flatMap((s) => [...s])])];
  const rows = await wh.query<{ recipient: string; reason: string }>(
    'SELECT recipient, reason FROM herald.suppressions WHERE recipient IN (SELECT unnest($1::text[]))', [keys]);
  const reasons = new Map(rows.map((r) => [r.recipient, r.reason]));
  const out = new Map<string, string>();
  for (const r of recipients) {
    const own = reasons.get(r);
    if (own !== undefined) {
      out.set(r, own);
      continue;
    }
    const via = [...(linked.get(r) ?? [])].sort().find((k) => reasons.has(k));
    if (via !== undefined) out.set(r, `${reasons.get(via)!} (as ${via})`);
  }
  return out;
}

/** For each recipient, the other identities of every identities row it is the phone, BSUID or parent BSUID of. */
async function linkedIdentities(wh: Warehouse, recipients: readonly string[]): Promise<Map<string, Set<string>>> {
  // Three indexed lookups (PostgreSQL); an OR of them would scan the table.
  const rows = await wh.query<{ phone: string | null; user_id: string | null; parent_user_id: string | null }>(
    ['phone', 'user_id', 'parent_user_id'].map((c) =>
      `SELECT phone, user_id, parent_user_id FROM herald.identities WHERE ${c} IN (SELECT unnest($1::text[]))`).join(' UNION '), [recipients]);
  const asked = new Set(recipients);
  const linked = new Map<string, Set<string>>();
  for (const row of rows) {
    const ids = [row.phone, row.user_id, row.parent_user_id].filter((v): v is string => v !== null);
    for (const id of ids) {
      if (!asked.has(id)) continue;
      let set = linked.get(id);
      if (!set) linked.set(id, (set = new Set()));
      for (const other of ids) if (other !== id) set.add(other);
    }
  }
  return linked;
}

/** How long "the suppressions table is empty" is trusted before it is asked again. */
const EMPTY_RECHECK_MS = 10_000;

/**
 * Suppressions of a batch of recipients. While the suppressions table is empty (a new install, a
 * tenant that never had an opt-out) the per-batch queries are skipped: with no suppression, no
 * identity can lead to one either. Emptiness is re-checked every 10 s so an opt-out landed by a
 * webhook mid-run still applies.
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
