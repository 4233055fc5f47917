/**
 * Loads the sample segment into a table of the warehouse (`demo_customers`), so the demo job is
 * the same SQL on DuckDB and PostgreSQL: only HERALD_WAREHOUSE_URL changes.
 */
import type { Warehouse } from '../warehouse/warehouse.js';
import { sampleSegment, type SampleRow } from './sample-segment.js';

export const SAMPLE_TABLE = 'demo_customers';

const COLUMNS: [keyof SampleRow, string][] = [
  ['customer_id', 'text'], ['phone', 'text'], ['first_name', 'text'], ['points', 'integer'],
  ['expires_on', 'date'], ['coupon_path', 'text'], ['whatsapp_opt_in', 'text'], ['planted', 'text'],
];

/** Replaces the table with the `rows`-row sample of `seed` (the same rows the CSV of that seed holds). */
export async function loadSampleTable(wh: Warehouse, rows: number, seed = 7): Promise<void> {
  await wh.query(`DROP TABLE IF EXISTS ${SAMPLE_TABLE}`);
  await wh.query(`CREATE TABLE ${SAMPLE_TABLE} (${COLUMNS.map(([c, t]) => `${c} ${t}`).join(', ')}, ord integer)`);
  const batch: SampleRow[] = [];
  let ord = 0;
  const flush = async () => {
    // unnest of one array per column: a constant number of parameters, portable to both engines.
    const arrays = COLUMNS.map(([c]) => batch.map((r) => String(r[c])));
    const ords = batch.map(() => String(ord++));
    await wh.query(
      `INSERT INTO ${SAMPLE_TABLE} SELECT ${COLUMNS.map(([, t], i) => `CAST(c${i} AS ${t})`).join(', ')}, CAST(o AS integer) ` +
      `FROM (SELECT ${COLUMNS.map((_, i) => `unnest($${i + 1}::text[]) AS c${i}`).join(', ')}, unnest($${COLUMNS.length + 1}::text[]) AS o) AS s`,
      [...arrays, ords]);
    batch.length = 0;
  };
  for (const row of sampleSegment(rows, seed)) {
    batch.push(row);
    if (batch.length === 5000) await flush();
  }
  if (batch.length > 0) await flush();
}
