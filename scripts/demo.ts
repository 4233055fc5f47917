/**
 * `npm run demo`: loads a 10,000-row sample segment with planted mess into the configured
 * warehouse (embedded DuckDB by default; set HERALD_WAREHOUSE_URL=postgres://… for PostgreSQL),
 * runs jobs/demo.yaml through the sandbox provider, then checks every row's fate against what was
 * planted in the data. Also writes the sample as demo-data/customers.csv, for a look.
 */
import { existsSync } from 'node:fs';
import { main } from '../src/cli.js';
import { loadConfig, warehouseUrl } from '../src/config/load.js';
import { loadSampleTable, SAMPLE_TABLE } from '../src/demo/load-sample.js';
import { writeSampleCsv } from '../src/demo/write-sample.js';
import { openWarehouse } from '../src/warehouse/open.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';

const ROWS = 10_000;
// The demo is watched by a person: progress and the funnel say it all; JSON logs stay for warnings.
process.env.HERALD_LOG_LEVEL ??= 'warn';
const CSV = 'demo-data/customers.csv';

const url = warehouseUrl(loadConfig(), 'default');
await withWarehouse(async (wh) => {
  const [row] = await wh.query<{ n: number }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = '${SAMPLE_TABLE}'`);
  if (Number(row?.n) === 0) {
    await loadSampleTable(wh, ROWS);
    console.error(`loaded ${ROWS.toLocaleString('en')} sample rows into ${SAMPLE_TABLE} (${wh.description})`);
  }
});
if (!existsSync(CSV)) await writeSampleCsv(CSV, ROWS);

const code = await main(['run', 'jobs/demo.yaml', ...process.argv.slice(2)]);
if (code === 0 || code === 3) await withWarehouse(checkPlanted);
process.exitCode = code;

async function withWarehouse(work: (wh: Warehouse) => Promise<void>): Promise<void> {
  const wh = await openWarehouse(url);
  try {
    await work(wh);
  } finally {
    await wh.close();
  }
}

/** Compares the latest run's sends with the `planted` column of the sample. */
async function checkPlanted(wh: Warehouse): Promise<void> {
  const [run] = await wh.query<{ run_id: string }>("SELECT run_id FROM herald.runs WHERE job = 'demo_welcome' ORDER BY started_at DESC LIMIT 1");
  if (!run) return;
  const rows = await wh.query<{ planted: string; outcome: string | null }>(
    `SELECT d.planted, s.status || coalesce('/' || s.reason, '') AS outcome
     FROM ${SAMPLE_TABLE} d LEFT JOIN herald.sends s ON s.run_id = $1 AND s.row_key = d.customer_id
       AND (d.planted = 'duplicate/duplicate_in_segment') = (coalesce(s.reason, '') = 'duplicate_in_segment')`, [run.run_id]);
  // A planted `send` ends accepted or failed by the provider (undeliverable) on the first run; run
  // again, it is duplicate / already_sent, or duplicate / failed_earlier (left alone for 7 days).
  const ok = (want: string, got: string | null) => want === got || (want === 'send' && /^(accepted|failed\/provider:|duplicate\/(already_sent|failed_earlier))/.test(got ?? ''));
  const bad = rows.filter((r) => !ok(r.planted, r.outcome)).map((b) => `planted ${b.planted}, got ${b.outcome ?? 'no row'}`);
  const [counts] = await wh.query<{ audience: number; sends: number }>(
    `SELECT (SELECT count(*) FROM ${SAMPLE_TABLE}) AS audience, (SELECT count(*) FROM herald.sends WHERE run_id = $1) AS sends`, [run.run_id]);
  if (Number(counts!.audience) !== Number(counts!.sends)) bad.unshift(`${counts!.audience} sample rows but ${counts!.sends} herald.sends rows`);
  console.error(bad.length === 0
    ? `all ${Number(counts!.audience).toLocaleString('en')} sample rows ended as planted, one herald.sends row each`
    : `MISMATCH with the planted fates:\n${bad.slice(0, 20).map((b) => `  ${b}`).join('\n')}`);
  if (bad.length > 0) process.exitCode = 1;
}
