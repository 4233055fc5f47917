/** The job part of a report, gathered for the HTML and text forms: each run's headline counts and cost, latency, and splits over all the runs shown. */
import type { Warehouse } from '../warehouse/warehouse.js';
import { runTotals, type CostRow } from './costs.js';
import type { FunnelRow, ReasonRow } from './funnel.js';
import { headlineOf } from './headline.js';
import type { Overview } from './html-job.js';
import { latencies } from './latency.js';
import { splits } from './splits.js';

export async function buildOverview(
  wh: Warehouse, rows: readonly FunnelRow[], why: readonly ReasonRow[], cost: readonly CostRow[], failedCsv: Overview['failedCsv'],
): Promise<Overview> {
  const runIds = rows.map((r) => r.run_id);
  return {
    runs: rows.map((r) => ({
      run_id: r.run_id, started_at: r.started_at, run_status: r.run_status, ...headlineOf(r, why),
      cost: runTotals(cost, r.run_id).map((t) => `${t.currency} ${t.cost}`).join(', '),
    })),
    latency: await latencies(wh, runIds),
    byTemplate: await splits(wh, runIds, 'template'),
    byCountry: await splits(wh, runIds, 'country'),
    failedCsv,
  };
}
