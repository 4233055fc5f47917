/**
 * Full runs of a job over a messy 1,500-row segment through the sandbox, on DuckDB and on
 * PostgreSQL: one herald.sends row per audience row, each with the fate planted in the data, and
 * a second run that messages nobody again.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, loadJob } from '../src/config/load.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { eventSink } from '../src/events/event.js';
import { silentLogger } from '../src/log.js';
import { runJob, type RunOptions } from '../src/pipeline/run-job.js';
import { SandboxProvider } from '../src/providers/sandbox/sandbox.provider.js';
import { openWarehouse } from '../src/warehouse/open.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { freshPgUrl } from './helpers/pg.js';
import { jobFixture, type JobFixture } from './support/job-fixture.js';

const ROWS = 1500;

async function runOnce(fx: JobFixture, wh: Warehouse, extra: Partial<RunOptions> = {}) {
  const config = loadConfig({ HERALD_CONFIG: fx.configFile });
  const provider = new SandboxProvider(config.config.providers.sandbox, eventSink(() => wh).land);
  const summary = await runJob({ loaded: loadJob(fx.jobFile, {}), wh, provider, senders: new SenderRegistry(), logger: silentLogger, ...extra });
  await provider.close();
  return summary;
}

/** Planted fate per sample row vs the run's sends, matched by key (repeated keys matched in any order). */
async function expectPlanted(wh: Warehouse, runId: string, sendable: RegExp) {
  const planted = await wh.query<{ customer_id: string; planted: string }>('SELECT customer_id, planted FROM demo_customers');
  const sends = await wh.query<{ row_key: string; outcome: string }>("SELECT row_key, status || coalesce('/' || reason, '') AS outcome FROM herald.sends WHERE run_id = $1", [runId]);
  expect(sends).toHaveLength(planted.length);
  const byKey = new Map<string, string[]>();
  for (const s of sends) byKey.set(s.row_key, [...(byKey.get(s.row_key) ?? []), s.outcome]);
  const mismatches: string[] = [];
  for (const p of planted) {
    const left = byKey.get(p.customer_id) ?? [];
    const i = left.findIndex((o) => (p.planted === 'send' ? sendable.test(o) : o === p.planted));
    if (i === -1) mismatches.push(`${p.customer_id} planted ${p.planted} got ${left.join(',')}`);
    else left.splice(i, 1);
  }
  expect(mismatches).toEqual([]);
}

function ledgerRecipients(fx: JobFixture): string[] {
  return readFileSync(fx.ledger, 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { recipient: string }).recipient);
}

async function behavesEndToEnd(fx: JobFixture, wh: Warehouse) {
  const first = await runOnce(fx, wh);
  expect(first.status).toBe('succeeded');
  expect(first.exit_code).toBe(0);
  expect(first.counts.audience).toBe(ROWS);
  await expectPlanted(wh, first.run_id, /^(accepted|failed\/provider:131026)$/);
  expect(first.counts.accepted).toBeGreaterThan(ROWS * 0.6);
  expect(first.counts.unknown).toBe(0);

  const [run] = await wh.query<Record<string, unknown>>('SELECT * FROM herald.runs WHERE run_id = $1', [first.run_id]);
  expect(run).toMatchObject({ status: 'succeeded', audience: ROWS, accepted: first.counts.accepted, failed: first.counts.failed, rejected: first.counts.rejected });

  // Provider events landed for accepted sends, joined on the message id.
  const [delivered] = await wh.query<{ n: number }>(
    "SELECT count(DISTINCT s.send_id) AS n FROM herald.sends s JOIN herald.events e ON e.provider_message_id = s.provider_message_id WHERE s.run_id = $1 AND e.event_type = 'sent'", [first.run_id]);
  expect(Number(delivered!.n)).toBe(first.counts.accepted);

  // Transiently failed sends were retried to success: attempts > 1 exist among the accepted.
  const [retried] = await wh.query<{ n: number }>("SELECT count(*) AS n FROM herald.sends WHERE run_id = $1 AND status = 'accepted' AND attempts > 1", [first.run_id]);
  expect(Number(retried!.n)).toBeGreaterThan(0);

  // A re-run sends nobody: accepted keys are duplicates, and the recipients that failed
  // permanently (undeliverable) are left alone for delivery.retry_failed_after, so it exits 0.
  const second = await runOnce(fx, wh);
  expect(second.counts.accepted).toBe(0);
  expect(second.counts.failed).toBe(0);
  expect(second.exit_code).toBe(0);
  expect(second.counts.duplicate).toBe(first.counts.duplicate + first.counts.accepted + first.counts.failed);
  await expectPlanted(wh, second.run_id, /^(duplicate\/already_sent|duplicate\/failed_earlier)$/);
  const recipients = ledgerRecipients(fx);
  expect(new Set(recipients).size).toBe(recipients.length);
}

describe('herald run on DuckDB', () => {
  let fx: JobFixture;
  let wh: Warehouse;
  beforeAll(async () => {
    fx = jobFixture({ rows: ROWS, warehouseUrl: 'duckdb::memory:' });
    wh = await openWarehouse('duckdb::memory:');
    await fx.loadSample(wh);
  });
  afterAll(async () => {
    await wh.close();
    fx.cleanup();
  });

  it('lands one row per audience row with the planted fate, and a re-run sends nobody twice', () => behavesEndToEnd(fx, wh));

  it('a dry run lands planned rows and sends nothing; the same run key returns the same run', async () => {
    const before = ledgerRecipients(fx).length;
    const dry = await runOnce(fx, wh, { dryRun: true, runKey: 'dry-1', limit: 200 });
    expect(dry.counts.audience).toBe(200);
    expect(dry.counts.accepted).toBe(0);
    const again = await runOnce(fx, wh, { dryRun: true, runKey: 'dry-1', limit: 200 });
    expect(again.run_id).toBe(dry.run_id);
    expect(again.already_finished).toBe(true);
    const [n] = await wh.query<{ n: number }>('SELECT count(*) AS n FROM herald.sends WHERE run_id = $1', [dry.run_id]);
    expect(Number(n!.n)).toBe(200);
    expect(ledgerRecipients(fx).length).toBe(before);
  });
});

describe('herald run on PostgreSQL', () => {
  let fx: JobFixture;
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const pg = await freshPgUrl();
    cleanup = pg.cleanup;
    // The same job and SQL as on DuckDB: only the warehouse changes.
    fx = jobFixture({ rows: ROWS, warehouseUrl: pg.url });
    wh = await openWarehouse(pg.url);
    await fx.loadSample(wh);
  }, 120_000);
  afterAll(async () => {
    await wh.close();
    await cleanup();
    fx.cleanup();
  });

  it('lands the same rows as on DuckDB, and a re-run sends nobody twice', () => behavesEndToEnd(fx, wh));
});
