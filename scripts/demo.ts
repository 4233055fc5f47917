/**
 * `npm run demo`: writes a 10,000-row sample segment (if absent), runs jobs/demo.yaml on the
 * embedded DuckDB warehouse through the sandbox provider, then checks every row's fate against
 * what was planted in the data.
 */
import { existsSync } from 'node:fs';
import { main } from '../src/cli.js';
import { writeSampleCsv } from '../src/demo/write-sample.js';
import { loadConfig, warehouseUrl } from '../src/config/load.js';
import { openWarehouse } from '../src/warehouse/open.js';

const CSV = 'demo-data/customers.csv';

if (!existsSync(CSV)) {
  await writeSampleCsv(CSV, 10_000);
  console.error(`wrote ${CSV} (10,000 rows of planted mess)`);
}
const code = await main(['run', 'jobs/demo.yaml', ...process.argv.slice(2)]);
if (code <= 3) await checkPlanted();
process.exitCode = code;

/** Compares the latest run's sends with the `planted` column of the CSV. */
async function checkPlanted(): Promise<void> {
  const wh = await openWarehouse(warehouseUrl(loadConfig(), 'default'));
  try {
    const [run] = await wh.query<{ run_id: string }>("SELECT run_id FROM herald.runs WHERE job = 'demo_welcome' ORDER BY started_at DESC LIMIT 1");
    if (!run) return;
    const planted = await wh.query<{ customer_id: string; planted: string }>('SELECT customer_id, planted FROM read_csv($1, header = true, all_varchar = true)', [CSV]);
    const sends = await wh.query<{ row_key: string; outcome: string }>(
      "SELECT row_key, status || coalesce('/' || reason, '') AS outcome FROM herald.sends WHERE run_id = $1", [run.run_id]);
    const outcomes = new Map<string, string[]>();
    for (const s of sends) outcomes.set(s.row_key, [...(outcomes.get(s.row_key) ?? []), s.outcome]);
    // A planted `send` may end accepted, failed by the provider, or duplicate on a second run.
    const ok = (want: string, got: string) => want === got || (want === 'send' && /^(accepted|failed\/provider:|duplicate\/already_sent|unknown)/.test(got));
    const bad: string[] = [];
    for (const p of planted) {
      const left = outcomes.get(p.customer_id) ?? [];
      const i = left.findIndex((got) => ok(p.planted, got));
      if (i === -1) bad.push(`${p.customer_id}: planted ${p.planted}, got ${left.join(', ') || 'no row'}`);
      else left.splice(i, 1);
    }
    const extra = [...outcomes.values()].flat().length;
    if (extra > 0) bad.push(`${extra} sends rows match no row of the CSV`);
    console.error(bad.length === 0
      ? `all ${planted.length.toLocaleString('en')} rows of ${CSV} ended as planted (one herald.sends row each)`
      : `MISMATCH with ${CSV}:\n${bad.slice(0, 20).map((b) => `  ${b}`).join('\n')}`);
    if (bad.length > 0) process.exitCode = 1;
  } finally {
    await wh.close();
  }
}
