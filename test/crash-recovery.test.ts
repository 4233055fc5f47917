/**
 * kill -9 in the middle of a run, twice, then a run to the end: no recipient messaged twice (proven
 * from the sandbox's own record of acceptances, as a provider would keep it), every row in a
 * terminal state, and at most `concurrency` sends left unknown by each crash.
 * Runs the built CLI (`bin/herald.js`) in a child process, as a scheduler would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { openWarehouse } from '../src/warehouse/open.js';
import { freshPgUrl } from './helpers/pg.js';
import { acceptances, startCli, waitFor, type CliProcess } from './support/cli-process.js';
import { jobFixture, type JobFixture } from './support/job-fixture.js';

const ROWS = 900;
const CONCURRENCY = 16;
function startRun(fx: JobFixture): CliProcess {
  return startCli(['run', fx.jobFile], { HERALD_CONFIG: fx.configFile });
}

async function killAfterAcceptances(fx: JobFixture, count: number): Promise<void> {
  const run = startRun(fx);
  await waitFor(() => acceptances(fx.ledger).length >= count, `${count} acceptances`, run.output);
  run.child.kill('SIGKILL');
  await run.exited;
}

async function crashAndRecover(fx: JobFixture, url: string) {
  await killAfterAcceptances(fx, 80);
  await killAfterAcceptances(fx, acceptances(fx.ledger).length + 250);
  const last = startRun(fx);
  expect(await last.exited, last.output()).toBe(0);

  // The provider's own record: nobody was accepted twice.
  const accepted = acceptances(fx.ledger);
  expect(accepted.length).toBeGreaterThan(300);
  expect(new Set(accepted.map((a) => a.recipient)).size).toBe(accepted.length);

  const wh = await openWarehouse(url);
  try {
    // The plain runs after each kill continued the run the dead process left running.
    const runs = await wh.query<{ run_id: string; status: string }>("SELECT run_id, status FROM herald.runs WHERE job = 'e2e_welcome' ORDER BY started_at");
    expect(runs.map((r) => r.status)).toEqual(['succeeded']);
    const statuses = await wh.query<{ status: string; n: number }>('SELECT status, count(*) AS n FROM herald.sends WHERE run_id = $1 GROUP BY status', [runs[0]!.run_id]);
    const count = (status: string) => Number(statuses.find((s) => s.status === status)?.n ?? 0);
    // Every audience row exactly once, each in a final state: nothing pending or in flight.
    expect(statuses.reduce((sum, s) => sum + Number(s.n), 0)).toBe(ROWS);
    expect([count('pending'), count('in_flight')]).toEqual([0, 0]);
    // Each kill left at most `concurrency` sends whose outcome is unknown.
    expect(count('unknown')).toBeLessThanOrEqual(2 * CONCURRENCY);
    const [unexplained] = await wh.query<{ n: number }>("SELECT count(*) AS n FROM herald.sends WHERE status = 'unknown' AND reason <> 'outcome_unknown'");
    expect(Number(unexplained!.n)).toBe(0);

    // Every acceptance the provider recorded is known to herald as accepted, or as unknown after a crash.
    const known = await wh.query<{ send_id: string; status: string }>("SELECT send_id, status FROM herald.sends WHERE status IN ('accepted', 'unknown')");
    const bySend = new Map(known.map((k) => [k.send_id, k.status]));
    expect(accepted.filter((a) => !bySend.has(a.send_id))).toEqual([]);
  } finally {
    await wh.close();
  }
}

describe('crash recovery (kill -9 mid-run)', () => {
  const fixtures: JobFixture[] = [];
  afterAll(() => fixtures.forEach((f) => f.cleanup()));

  it('on DuckDB: no recipient messaged twice, every row accounted for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-crash-'));
    fixtures.push({ cleanup: () => rmSync(dir, { recursive: true, force: true }) } as JobFixture);
    const url = `duckdb:${join(dir, 'w.duckdb')}`;
    const fx = jobFixture({ rows: ROWS, warehouseUrl: url, rate: 300, concurrency: CONCURRENCY, latencyMs: 5 });
    fixtures.push(fx);
    await fx.loadSample(url);
    await crashAndRecover(fx, url);
    // DuckDB recovered its write-ahead log after each kill: the file opens cleanly.
    await (await DuckDbWarehouse.open(url.slice('duckdb:'.length))).close();
  });

  it('on PostgreSQL: no recipient messaged twice, every row accounted for', async () => {
    const pg = await freshPgUrl();
    try {
      const fx = jobFixture({ rows: ROWS, warehouseUrl: pg.url, rate: 300, concurrency: CONCURRENCY, latencyMs: 5 });
      fixtures.push(fx);
      await fx.loadSample(pg.url);
      await crashAndRecover(fx, pg.url);
    } finally {
      await pg.cleanup();
    }
  });
});
