/**
 * Issue 15: on the embedded default (a DuckDB file, DuckDB's 128MB memory limit, nothing tuned),
 * `herald serve` is the one process that may write the file, so several jobs at once run inside
 * it. Three runs of different jobs started through the run API at the same moment each finish
 * with every row landed, each read from its own spooled segment, the ledger of all three sharing
 * DuckDB's one memory limit. The real CLI in a child process, as an operator runs it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { listeningUrl, startCli, type CliProcess } from './support/cli-process.js';

const ROWS = 3000;
const JOBS = ['north', 'south', 'west'];
const TOKEN = 'concurrent-runs-token';

let dir: string;
let serve: CliProcess | undefined;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-concurrent-'));
  const file = join(dir, 'warehouse.duckdb');
  // The segments live in the same file as herald's tables, as with `npm run demo`. Each job its
  // own generated numbers (+1 201 555 0000 …), so all three send every row.
  const wh = await DuckDbWarehouse.open(file);
  await wh.query(`CREATE TABLE audience AS SELECT i, 'c' || i AS customer_id, '+1' || CAST(2015550000 + i AS VARCHAR) AS phone, 'Name ' || i AS first_name, true AS opt_in FROM range(${ROWS * JOBS.length}) t(i)`);
  await wh.close();
  mkdirSync(join(dir, 'jobs'));
  JOBS.forEach((job, n) => writeFileSync(join(dir, 'jobs', `${job}.yaml`), `
name: ${job}
source: { query: "SELECT customer_id, phone, first_name, opt_in FROM audience WHERE i >= ${n * ROWS} AND i < ${(n + 1) * ROWS} ORDER BY phone DESC" }
audience: { key: customer_id, phone: phone, default_region: US, consent: opt_in }
message: { provider: sandbox, sender: "1555000${n}000", template: { name: hello, language: en_US }, body: [ { column: first_name } ] }
`));
  serve = startCli(['serve', '--port', '0', '--jobs', join(dir, 'jobs')], {
    HERALD_WAREHOUSE_URL: `duckdb:${file}`, HERALD_API_TOKEN: TOKEN, HERALD_LOG_LEVEL: 'info',
    HERALD_SANDBOX_RATE: '1000', HERALD_SANDBOX_EVENT_DELAY_MS: '50', HERALD_CONFIG: join(import.meta.dirname, '..', 'config', 'herald.yaml'),
  });
});
afterAll(async () => {
  serve?.child.kill('SIGTERM');
  await serve?.exited;
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${serve!.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('three runs of different jobs started at once through the run API each land every row, on the default memory settings', async () => {
  const url = await until('serve to listen', () => listeningUrl(serve!.output()), 20_000);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };
  const started = await Promise.all(JOBS.map((job) => api('POST', '/runs', { job, run_key: `${job}-1` })));
  expect(started.map((s) => s.status)).toEqual([202, 202, 202]);
  const runIds = started.map((s) => s.body.run_id as string);

  const views = await until('the three runs to end', async () => {
    const all = await Promise.all(runIds.map(async (id) => (await api('GET', `/runs/${id}`)).body));
    return all.every((v) => v.status !== 'running' && v.status !== 'queued') ? all : undefined;
  }, 120_000);
  for (const v of views) {
    expect({ job: v.job, status: v.status, error: v.error ?? null }).toEqual({ job: v.job, status: 'succeeded', error: null });
    const counts = v.counts as Record<string, number>;
    expect(counts.audience).toBe(ROWS);
    expect(counts.accepted! + counts.failed!).toBe(ROWS); // the sandbox fails ~2% permanently; nothing left pending or unknown
    expect([counts.pending, counts.in_flight, counts.unknown]).toEqual([0, 0, 0]);
  }
  expect(serve!.output()).not.toMatch(/Out of Memory/i);
}, 180_000);
