/**
 * kill -9 in the middle of a run, twice, then a run to the end: no recipient messaged twice (proven
 * from the sandbox's own record of acceptances, as a provider would keep it), every row in a
 * terminal state, and at most `concurrency` sends left unknown by each crash.
 * Runs the built CLI (`bin/herald.js`) in a child process, as a scheduler would.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { openWarehouse } from '../src/warehouse/open.js';
import { freshPgUrl } from './helpers/pg.js';
import { jobFixture, type JobFixture } from './support/job-fixture.js';

const ROWS = 900;
const CONCURRENCY = 16;
const BIN = join(import.meta.dirname, '..', 'bin', 'herald.js');

function acceptances(fx: JobFixture): { send_id: string; recipient: string; wamid: string }[] {
  if (!existsSync(fx.ledger)) return [];
  return readFileSync(fx.ledger, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { send_id: string; recipient: string; wamid: string });
}

function startRun(fx: JobFixture) {
  const child = spawn(process.execPath, [BIN, 'run', fx.jobFile], {
    env: { ...process.env, HERALD_CONFIG: fx.configFile, HERALD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function killAfterAcceptances(fx: JobFixture, count: number): Promise<void> {
  const run = startRun(fx);
  const deadline = Date.now() + 60_000;
  while (acceptances(fx).length < count) {
    if (Date.now() > deadline) throw new Error(`run never reached ${count} acceptances:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  run.child.kill('SIGKILL');
  await run.exited;
}

async function crashAndRecover(fx: JobFixture, url: string) {
  await killAfterAcceptances(fx, 80);
  await killAfterAcceptances(fx, acceptances(fx).length + 250);
  const last = startRun(fx);
  expect(await last.exited, last.output()).toBe(0);

  // The provider's own record: nobody was accepted twice.
  const accepted = acceptances(fx);
  expect(accepted.length).toBeGreaterThan(300);
  expect(new Set(accepted.map((a) => a.recipient)).size).toBe(accepted.length);

  const wh = await openWarehouse(url);
  try {
    const runs = await wh.query<{ run_id: string; status: string }>("SELECT run_id, status FROM herald.runs WHERE job = 'e2e_welcome' ORDER BY started_at");
    expect(runs.map((r) => r.status)).toEqual(['aborted', 'aborted', 'succeeded']);
    for (const killed of runs.slice(0, 2)) {
      const [unknown] = await wh.query<{ n: number }>("SELECT count(*) AS n FROM herald.sends WHERE run_id = $1 AND status = 'unknown'", [killed.run_id]);
      expect(Number(unknown!.n)).toBeLessThanOrEqual(CONCURRENCY);
      const [inFlight] = await wh.query<{ n: number }>("SELECT count(*) AS n FROM herald.sends WHERE run_id = $1 AND reason = 'in_flight'", [killed.run_id]);
      expect(Number(inFlight!.n)).toBe(0); // recovery relabelled them outcome_unknown
    }
    // The last run accounts for every audience row exactly once, each in a terminal state.
    const final = runs[2]!.run_id;
    const statuses = await wh.query<{ status: string; n: number }>('SELECT status, count(*) AS n FROM herald.sends WHERE run_id = $1 GROUP BY status', [final]);
    expect(statuses.reduce((sum, s) => sum + Number(s.n), 0)).toBe(ROWS);
    expect(statuses.map((s) => s.status)).not.toContain('unknown');

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
