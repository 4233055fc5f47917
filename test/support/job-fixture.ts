/**
 * A job over a generated sample segment in a temp directory, for end-to-end runs: the CSV (with
 * each row's planted fate), the SQL, the job file and a runtime config, all written fresh.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSampleCsv } from '../../src/demo/write-sample.js';

export interface JobFixture {
  dir: string;
  jobFile: string;
  configFile: string;
  csv: string;
  ledger: string;
  cleanup(): void;
}

export interface FixtureOptions {
  rows: number;
  warehouseUrl: string;
  rate?: number;
  concurrency?: number;
  latencyMs?: number;
  seed?: number;
  /** The segment SQL; by default a DuckDB read of the CSV. PostgreSQL needs a table (see loadCsvIntoPg). */
  sql?: string;
}

export async function jobFixture(o: FixtureOptions): Promise<JobFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-e2e-'));
  const csv = join(dir, 'customers.csv');
  const ledger = join(dir, 'sandbox-ledger.jsonl');
  await writeSampleCsv(csv, o.rows, o.seed ?? 7);
  writeFileSync(join(dir, 'segment.sql'), o.sql ?? `SELECT * FROM read_csv(:file, header = true, all_varchar = true)`);
  const jobFile = join(dir, 'job.yaml');
  writeFileSync(jobFile, `
name: e2e_welcome
timezone: Asia/Tokyo
source: { sql: ${join(dir, 'segment.sql')}, params: { file: ${csv} } }
audience: { key: customer_id, phone: phone, default_region: JP, consent: whatsapp_opt_in }
message:
  provider: sandbox
  sender: "15550001234"
  template: { name: welcome_back, language: ja }
  body: [ { column: first_name }, { column: points, type: number }, { column: expires_on, type: date } ]
  buttons: [ { index: 0, url_suffix: { column: coupon_path } } ]
delivery: { rate_per_second: ${o.rate ?? 1000}, concurrency: ${o.concurrency ?? 16} }
`);
  const configFile = join(dir, 'herald.yaml');
  writeFileSync(configFile, `
warehouses: { default: { url: "${o.warehouseUrl}" } }
providers:
  sandbox: { seed: 42, latency_ms: ${o.latencyMs ?? 0}, max_event_delay_ms: 50, ledger_file: ${ledger} }
`);
  return { dir, jobFile, configFile, csv, ledger, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
