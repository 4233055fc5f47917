/** The run funnel and its reasons, from `herald.run_funnel`, `herald.sends` and failed statuses, as rows to print or export. */
import type { Warehouse } from '../warehouse/warehouse.js';
import { explanationLine } from './codes.js';
import { deferrals, runTotals, type CostRow } from './costs.js';
import { headlineOf, headlineText } from './headline.js';

export interface FunnelRow {
  run_id: string;
  job: string;
  run_key: string;
  run_status: string;
  dry_run: boolean;
  started_at: Date;
  finished_at: Date | null;
  audience: number;
  rejected: number;
  suppressed: number;
  duplicate: number;
  planned: number;
  accepted: number;
  delivered: number;
  read: number;
  failed: number;
  deferred: number;
  unknown: number;
  clicked: number;
  /** Sends answered by the recipient (see herald.message_status). */
  replied: number;
  /** delivered, read, clicked, replied: per accepted send; failed: per attempted (accepted or failed) send. */
  delivery_rate: number | null;
  read_rate: number | null;
  failure_rate: number | null;
  click_rate: number | null;
  reply_rate: number | null;
}

export interface ReasonRow {
  run_id: string;
  status: string;
  reason: string | null;
  count: number;
  /** For failed rows: `send` (the provider's answer) or `webhook` (a failed status after acceptance). */
  failed_by?: 'send' | 'webhook' | null;
}

export type RunSelector = { runId: string } | { job: string } | { latest: true };

export async function funnel(wh: Warehouse, select: RunSelector, limit = 20): Promise<FunnelRow[]> {
  if ('runId' in select) return wh.query<FunnelRow>('SELECT * FROM herald.run_funnel WHERE run_id = $1', [select.runId]);
  if ('job' in select) return wh.query<FunnelRow>(`SELECT * FROM herald.run_funnel WHERE job = $1 ORDER BY started_at DESC LIMIT ${limit}`, [select.job]);
  return wh.query<FunnelRow>('SELECT * FROM herald.run_funnel ORDER BY started_at DESC LIMIT 1');
}

/**
 * Each run's sends by status and reason. A send accepted and then failed by a status webhook counts
 * as failed with reason `provider:<code>` (the code herald.message_status calls failure_code), so
 * the failed reasons add up to the funnel's failed. Read from herald.sends and the failed events
 * alone, not through herald.message_status: `herald run` prints this after every run, and the view's
 * reply windows would double its cost. Its rule (any failed status makes an accepted send failed,
 * the greatest error code) is the view's; test/report/job-report.test.ts and bench/report.ts hold
 * the two to the same totals.
 */
export async function reasons(wh: Warehouse, runIds: readonly string[]): Promise<ReasonRow[]> {
  if (runIds.length === 0) return [];
  const rows = await wh.query<ReasonRow>(
    "SELECT run_id, CASE WHEN webhook THEN 'failed' ELSE status END AS status, " +
    "CASE WHEN webhook THEN 'provider:' || coalesce(code, 'failed') ELSE reason END AS reason, " +
    "CASE WHEN webhook THEN 'webhook' WHEN status = 'failed' THEN 'send' END AS failed_by, count(*) AS count " +
    "FROM (SELECT s.run_id, s.status, s.reason, f.code, (s.status = 'accepted' AND f.provider_message_id IS NOT NULL) AS webhook " +
    '  FROM herald.sends s ' +
    "  LEFT JOIN (SELECT provider_message_id, max(error_code) AS code FROM herald.events WHERE event_type = 'failed' GROUP BY provider_message_id) f " +
    '    ON f.provider_message_id = s.provider_message_id ' +
    '  WHERE s.run_id IN (SELECT unnest($1::text[]))) o ' +
    'GROUP BY 1, 2, 3, 4 ORDER BY run_id, count(*) DESC, 2, 3, 4', [runIds]);
  return rows.map((r) => ({ ...r, count: Number(r.count) }));
}

const STAGES = ['audience', 'rejected', 'suppressed', 'duplicate', 'planned', 'accepted', 'delivered', 'read', 'failed', 'deferred', 'unknown', 'clicked', 'replied'] as const;

/** A plain-text table: the funnel of each run, then its reasons, its deferrals and (given cost rows) its cost. */
export function funnelTable(rows: readonly FunnelRow[], reasonRows: readonly ReasonRow[], costRows?: readonly CostRow[]): string {
  const out: string[] = [];
  for (const r of rows) {
    out.push(`run ${r.run_id}  job ${r.job}  key ${r.run_key}  ${r.run_status}${r.dry_run ? ' (dry run)' : ''}  started ${new Date(r.started_at).toISOString()}`);
    out.push(`  ${headlineText(headlineOf(r, reasonRows))}`);
    out.push('  stage       rows        share of audience');
    const audience = Number(r.audience) || 0;
    for (const stage of STAGES) {
      const n = Number(r[stage]) || 0;
      if (stage !== 'audience' && n === 0) continue;
      const share = audience > 0 && stage !== 'audience' ? `${((100 * n) / audience).toFixed(1).padStart(5)}%` : '';
      out.push(`  ${stage.padEnd(11)} ${n.toLocaleString('en').padStart(10)} ${share}`);
    }
    const mine = reasonRows.filter((x) => x.run_id === r.run_id && (x.reason || x.status === 'failed'));
    if (mine.length > 0) {
      out.push('  reasons:');
      for (const x of mine) {
        const what = `${x.status}/${x.reason ?? '(none)'}${x.failed_by === 'webhook' ? ' (webhook)' : ''}`;
        out.push(`    ${what.padEnd(40)} ${Number(x.count).toLocaleString('en').padStart(10)}  ${explanationLine(x.reason)}`);
      }
    }
    const deferred = deferrals(reasonRows, r.run_id);
    if (deferred.length > 0) {
      out.push('  deferred (sent by a later run):');
      for (const d of deferred) out.push(`    ${(d.reason ?? '').padEnd(20)} ${d.count.toLocaleString('en').padStart(10)}  ${d.label}`);
    }
    if (costRows) out.push(...costLines(costRows, r.run_id));
  }
  return out.join('\n');
}

/** A run's cost by category and currency, then its totals; says so when no status priced it. */
function costLines(costRows: readonly CostRow[], runId: string): string[] {
  const mine = costRows.filter((c) => c.run_id === runId);
  if (mine.length === 0) return ['  cost: no priced status yet (herald.send_costs)'];
  const out = ['  cost (herald.send_costs):'];
  for (const c of mine) {
    const what = `${c.category ?? 'no category'}`.padEnd(28);
    const amount = c.cost === null ? 'no rate' : `${c.currency} ${c.cost}`;
    const unpriced = c.unpriced > 0 ? `, ${c.unpriced.toLocaleString('en')} without a rate` : '';
    out.push(`    ${what} ${c.billable.toLocaleString('en').padStart(10)} billable of ${c.priced.toLocaleString('en')} priced  ${amount}${unpriced}`);
  }
  for (const t of runTotals(costRows, runId)) out.push(`    total ${t.currency} ${t.cost}`);
  return out;
}
