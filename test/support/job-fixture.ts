/**
 * A job over the generated sample segment (table `demo_customers`, each row with its planted
 * fate) in a temp directory, for end-to-end runs: the SQL, the job file and a runtime config.
 * The same job runs on either engine; `loadSample` fills the table in the warehouse under test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSampleTable } from '../../src/demo/load-sample.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';

export interface JobFixture {
  dir: string;
  jobFile: string;
  configFile: string;
  ledger: string;
  rows: number;
  /** Loads the sample rows into `demo_customers` of this warehouse (an open one, or a URL). */
  loadSample(target: Warehouse | string): Promise<void>;
  cleanup(): void;
}

export interface FixtureOptions {
  rows: number;
  warehouseUrl: string;
  rate?: number;
  concurrency?: number;
  latencyMs?: number;
}

export function jobFixture(o: FixtureOptions): JobFixture {
  const dir = mkdtempSync(join(tmpdir(), 'herald-e2e-'));
  const ledger = join(dir, 'sandbox-ledger.jsonl');
  writeFileSync(join(dir, 'segment.sql'), 'SELECT * FROM demo_customers ORDER BY ord');
  const jobFile = join(dir, 'job.yaml');
  writeFileSync(jobFile, `
name: e2e_welcome
timezone: Asia/Tokyo
source: { sql: ${join(dir, 'segment.sql')} }
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
  return {
    dir, jobFile, configFile, ledger, rows: o.rows,
    async loadSample(target) {
      const wh = typeof target === 'string' ? await openWarehouse(target) : target;
      await loadSampleTable(wh, o.rows);
      if (typeof target === 'string') await wh.close();
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
