/**
 * Delivery and read latency: seconds from herald's sent_at (when the provider accepted the send)
 * to the first delivered / read status (herald.message_status), median and 90th percentile
 * (interpolated, percentile_cont) per run and over all the runs asked for. The two clocks differ
 * (herald's and the provider's), so a status stamped before sent_at counts as 0 s.
 */
import type { Warehouse } from '../warehouse/warehouse.js';

export interface Latency {
  /** A run id, or null for all the runs together. */
  run_id: string | null;
  delivered: number;
  delivery_median_s: number | null;
  delivery_p90_s: number | null;
  read: number;
  read_median_s: number | null;
  read_p90_s: number | null;
}

const secs = (column: string) => `greatest(0, extract(epoch FROM (${column} - sent_at)))`;
const pct = (p: number, column: string) =>
  `CAST(percentile_cont(${p}) WITHIN GROUP (ORDER BY ${secs(column)}) FILTER (WHERE ${column} IS NOT NULL AND sent_at IS NOT NULL) AS DOUBLE PRECISION)`;
const SELECT = `count(*) FILTER (WHERE delivered_at IS NOT NULL AND sent_at IS NOT NULL) AS delivered,
  ${pct(0.5, 'delivered_at')} AS delivery_median_s, ${pct(0.9, 'delivered_at')} AS delivery_p90_s,
  count(*) FILTER (WHERE read_at IS NOT NULL AND sent_at IS NOT NULL) AS read,
  ${pct(0.5, 'read_at')} AS read_median_s, ${pct(0.9, 'read_at')} AS read_p90_s
  FROM herald.message_status WHERE run_id IN (SELECT unnest($1::text[]))`;

/** One row per run that has sends, then (with more than one run) the row of all of them together. */
export async function latencies(wh: Warehouse, runIds: readonly string[]): Promise<Latency[]> {
  if (runIds.length === 0) return [];
  const perRun = await wh.query<Record<string, unknown>>(`SELECT run_id, ${SELECT} GROUP BY run_id ORDER BY run_id`, [runIds]);
  const all = runIds.length > 1 ? await wh.query<Record<string, unknown>>(`SELECT NULL AS run_id, ${SELECT}`, [runIds]) : [];
  return [...perRun, ...all].map((r) => ({
    run_id: r.run_id === null ? null : String(r.run_id),
    delivered: Number(r.delivered), delivery_median_s: num(r.delivery_median_s), delivery_p90_s: num(r.delivery_p90_s),
    read: Number(r.read), read_median_s: num(r.read_median_s), read_p90_s: num(r.read_p90_s),
  }));
}

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/** 42 s, 3.5 min, 2.1 h: a latency a person reads at a glance; "–" when none. */
export function duration(s: number | null): string {
  if (s === null) return '–';
  if (s < 90) return `${Number(s.toFixed(1))} s`;
  if (s < 5400) return `${Number((s / 60).toFixed(1))} min`;
  return `${Number((s / 3600).toFixed(1))} h`;
}
