/**
 * The failed and rejected rows of the runs, to download as CSV: one line per send with its reason,
 * where the failure came from (the send's answer or a status webhook), the code's explanation and
 * what to do. Suppressed and duplicate rows are left out: nothing is wrong with them.
 */
import { stringify } from 'csv-stringify/sync';
import type { Warehouse } from '../warehouse/warehouse.js';
import { explain, NO_EXPLANATION } from './codes.js';
import { OUTCOMES } from './outcomes.js';

export interface FailedRow {
  run_id: string;
  send_id: string;
  row_key: string;
  recipient: string | null;
  country: string | null;
  template: string | null;
  status: 'failed' | 'rejected';
  reason: string | null;
  failed_by: 'send' | 'webhook' | null;
  error_code: string | null;
  error_detail: string | null;
  /** When it failed (the failed status), else when the row was written. */
  at: Date | string | null;
}

export async function failedRows(wh: Warehouse, runIds: readonly string[]): Promise<FailedRow[]> {
  if (runIds.length === 0) return [];
  return wh.query<FailedRow>(
    "SELECT run_id, send_id, row_key, recipient, country, template, CASE WHEN status = 'failed' THEN 'failed' ELSE 'rejected' END AS status, " +
    'reason, failed_by, error_code, error_detail, coalesce(failed_at, created_at) AS at ' +
    `FROM ${OUTCOMES} WHERE status IN ('failed', 'rejected') ORDER BY run_id, status, reason, row_key, send_id`, [runIds]);
}

export const FAILED_CSV_COLUMNS = ['run_id', 'send_id', 'row_key', 'recipient', 'country', 'template', 'status', 'reason', 'failed_by', 'error_code', 'error_detail', 'at', 'meaning', 'action'] as const;

export function failedCsv(rows: readonly FailedRow[]): string {
  return stringify(rows.map((r) => {
    const x = explain(r.reason);
    return { ...r, at: r.at === null ? '' : new Date(r.at).toISOString(), meaning: x?.meaning ?? NO_EXPLANATION, action: x?.action ?? '' };
  }), { header: true, columns: [...FAILED_CSV_COLUMNS] });
}
