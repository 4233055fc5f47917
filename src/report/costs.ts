/** Each run's cost (from herald.send_costs) and its deferrals by reason, for `herald report`. */
import { fromMicros, showMoney, toMicros } from '../cost/money.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { ReasonRow } from './funnel.js';

export interface CostRow {
  run_id: string;
  /** The pricing category Meta billed in (null when a status had `billable` but no category). */
  category: string | null;
  /** Null when the rate card has no row for the sends (then `cost` is null too, unless none was billable). */
  currency: string | null;
  /** Sends a status priced (billable or free). */
  priced: number;
  billable: number;
  /** Billable sends without a rate on the card: not in `cost`. */
  unpriced: number;
  /** The exact decimal, e.g. "0.055"; null when nothing here had a rate. */
  cost: string | null;
}

export async function costs(wh: Warehouse, runIds: readonly string[]): Promise<CostRow[]> {
  if (runIds.length === 0) return [];
  // The sum as text: exact on both engines (DuckDB would hand a DECIMAL back as a float).
  const rows = await wh.query<Omit<CostRow, 'cost'> & { cost: string | null }>(
    'SELECT run_id, category, currency, count(*) AS priced, count(*) FILTER (WHERE billable) AS billable, ' +
    'count(*) FILTER (WHERE billable AND cost IS NULL) AS unpriced, CAST(sum(cost) AS VARCHAR) AS cost ' +
    'FROM herald.send_costs WHERE run_id IN (SELECT unnest($1::text[])) ' +
    'GROUP BY run_id, category, currency ORDER BY run_id, category, currency', [runIds]);
  return rows.map((r) => ({
    ...r, priced: Number(r.priced), billable: Number(r.billable), unpriced: Number(r.unpriced),
    cost: r.cost === null ? null : showMoney(r.cost),
  }));
}

/** What each deferral reason means, for the report. */
export function deferralLabel(reason: string | null): string {
  if (reason === 'provider:131049') return 'marketing limit per user (Meta 131049, fatigue): not before 24 h';
  if (reason?.includes('messaging_limit')) return 'messaging limit: over the portfolio\'s 24 h budget of unique recipients';
  if (reason === 'not_before') return 'an earlier run was told not to send before its not_before';
  return reason ?? 'deferred';
}

/** The deferred sends of a run by reason (already among the reasons; singled out because they resume later). */
export function deferrals(reasonRows: readonly ReasonRow[], runId: string): { reason: string | null; label: string; count: number }[] {
  return reasonRows.filter((x) => x.run_id === runId && x.status === 'deferred')
    .map((x) => ({ reason: x.reason, label: deferralLabel(x.reason), count: Number(x.count) }));
}

/** Totals per currency of one run. */
export function runTotals(costRows: readonly CostRow[], runId: string): { currency: string; cost: string }[] {
  const totals = new Map<string, bigint>();
  for (const c of costRows) {
    if (c.run_id !== runId || c.currency === null || c.cost === null) continue;
    totals.set(c.currency, (totals.get(c.currency) ?? 0n) + toMicros(c.cost));
  }
  return [...totals].sort(([a], [b]) => a.localeCompare(b)).map(([currency, m]) => ({ currency, cost: fromMicros(m) }));
}
