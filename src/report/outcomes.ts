/**
 * One row per send of the given runs with its outcome as the report reads it: herald.message_status
 * (statuses from webhooks) joined to herald.sends (reason, template, country). A failure that came
 * by webhook has no reason in herald.sends (the send itself was accepted): its reason here is
 * `provider:<failure_code>`, so reasons add up to the funnel's failed. The query is shared by the
 * reasons, the headline, the splits and the failed-rows CSV so they cannot disagree.
 */

/** Sends handed to the provider in the run (any invocation of it): accepted, failed, unknown, or deferred by the provider's own answer (Meta 131049). */
export const ATTEMPTED = "(send_status IN ('accepted', 'failed', 'unknown') OR (send_status = 'deferred' AND reason LIKE 'provider:%'))";

/** `$1` is the text[] of run ids. */
export const OUTCOMES = `(
  SELECT m.run_id, m.send_id, m.row_key, m.recipient, m.send_status, m.status, m.sent_at, m.delivered_at, m.read_at, m.failed_at,
    s.template, s.language, s.country, s.created_at, coalesce(m.failure_code, s.error_code) AS error_code, s.error_detail,
    CASE WHEN m.status = 'failed' AND m.send_status <> 'failed' THEN 'provider:' || coalesce(m.failure_code, 'failed') ELSE s.reason END AS reason,
    CASE WHEN m.status = 'failed' AND m.send_status <> 'failed' THEN 'webhook' WHEN m.status = 'failed' THEN 'send' END AS failed_by
  FROM herald.message_status m
  JOIN herald.sends s ON s.send_id = m.send_id
  WHERE m.run_id IN (SELECT unnest($1::text[])) AND s.run_id IN (SELECT unnest($1::text[]))
) o`;

/** Counts of one group of sends, per attempted send where a rate is asked for. */
export const COUNTS = `count(*) AS audience,
  count(*) FILTER (WHERE ${ATTEMPTED}) AS attempted,
  count(*) FILTER (WHERE send_status = 'accepted') AS accepted,
  count(*) FILTER (WHERE status IN ('delivered', 'read')) AS delivered,
  count(*) FILTER (WHERE status = 'read') AS read,
  count(*) FILTER (WHERE status = 'failed') AS failed,
  count(*) FILTER (WHERE status = 'failed' AND failed_by = 'webhook') AS failed_by_webhook,
  count(*) FILTER (WHERE send_status = 'deferred' AND reason LIKE 'provider:%') AS deferred_by_provider,
  count(*) FILTER (WHERE send_status = 'unknown') AS unknown`;

export interface Counts {
  audience: number;
  attempted: number;
  accepted: number;
  delivered: number;
  read: number;
  failed: number;
  failed_by_webhook: number;
  deferred_by_provider: number;
  unknown: number;
}

export const COUNT_KEYS = ['audience', 'attempted', 'accepted', 'delivered', 'read', 'failed', 'failed_by_webhook', 'deferred_by_provider', 'unknown'] as const;

/** Engines hand counts back as bigint or string: numbers here. */
export function toCounts(row: Record<string, unknown>): Counts {
  return Object.fromEntries(COUNT_KEYS.map((k) => [k, Number(row[k] ?? 0)])) as unknown as Counts;
}

/** n of d as "12.5%", or "–" when d is 0. */
export function percent(n: number, d: number): string {
  return d > 0 ? `${((100 * n) / d).toFixed(1)}%` : '–';
}
