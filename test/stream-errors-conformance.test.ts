/**
 * A query that fails after some of its rows have streamed: on DuckDB and on PostgreSQL the read
 * rejects with the engine's error, never ends early as if the result were complete. Streams
 * carry segments (dry runs, counts) and the ledger's own reads (who was already messaged): a
 * truncated read is a silent drop there, or a second message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage } from '../src/errors.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { silentLogger } from '../src/log.js';
import { countSegment } from '../src/pipeline/segment.js';
import { runJob } from '../src/pipeline/run-job.js';
import type { LoadedJob } from '../src/config/load.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { ENGINES } from './helpers/engines.js';
import { accepted, loadedJob, ScriptedProvider } from './support/scripted-provider.js';

/**
 * Per engine: rows `i` from 1 to `rows` and an integer expression of `i` that fails on the
 * last-but-one tenth of them with `message`; `streamsFirst` whether rows reach the reader before
 * the error does.
 */
const ENGINE_SQL: Record<string, { series(rows: number): string; failing(rows: number): string; message: RegExp; streamsFirst: boolean }> = {
  DuckDB: {
    series: (rows) => `range(1, ${rows + 1}) AS t(i)`,
    failing: (rows) => `CASE WHEN i = ${failingRow(rows)} THEN error('boom at a late row') ELSE i END`,
    message: /boom at a late row/,
    streamsFirst: false, // read from a spool: the copy fails before the first row is read
  },
  PostgreSQL: {
    series: (rows) => `generate_series(1, ${rows}) AS t(i)`,
    // A cast of a column value: PostgreSQL cannot fold it at plan time, so it fails while rows flow.
    failing: (rows) => `CAST(CASE WHEN i = ${failingRow(rows)} THEN 'boom' ELSE CAST(i AS VARCHAR) END AS INTEGER)`,
    message: /invalid input syntax for type integer: "boom"/,
    streamsFirst: true,
  },
};
const ROWS = 300_000;
/** A dry run plans every row it reads: fewer rows keep it short. */
const DRY_RUN_ROWS = 30_000;

function failingRow(rows: number): number {
  return Math.round(rows * (5 / 6));
}

/** A job (customer_id, phone, first_name) over `sql`. */
function segmentJob(sql: string): LoadedJob {
  const loaded = loadedJob(0, {}, 'stream_error');
  return { ...loaded, job: { ...loaded.job, source: { ...loaded.job.source, query: sql } }, sql };
}

async function readAll(wh: Warehouse, sql: string, onRows?: (total: number) => void): Promise<number> {
  const stream = await wh.stream(sql, []);
  let total = 0;
  try {
    for await (const chunk of stream.chunks) {
      total += chunk.length;
      onRows?.(total);
    }
  } finally {
    await stream.close();
  }
  return total;
}

describe.each(ENGINES)('a query failing mid-stream on $name', (engine) => {
  const { series, failing, message, streamsFirst } = ENGINE_SQL[engine.name]!;
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ wh, cleanup } = await engine.open()));
  afterAll(async () => {
    await wh.close();
    await cleanup();
  });

  it('streams every row of the query when nothing fails', async () => {
    expect(await readAll(wh, `SELECT i AS v FROM ${series(ROWS)}`)).toBe(ROWS);
  });

  it('rejects while reading, with the engine\'s error', async () => {
    let read = 0;
    await expect(readAll(wh, `SELECT ${failing(ROWS)} AS v FROM ${series(ROWS)}`, (total) => (read = total))).rejects.toThrow(message);
    expect(read > 0).toBe(streamsFirst);
    expect(read).toBeLessThan(ROWS);
  });

  it('counts a failing segment with its error, not a partial count', async () => {
    // In WHERE: a count needs no projected column, and an engine may skip computing one.
    await expect(countSegment(wh, segmentJob(`SELECT i FROM ${series(ROWS)} WHERE ${failing(ROWS)} > 0`))).rejects.toThrow(message);
  });

  it('fails a dry run whose segment fails on a late row, instead of planning fewer rows', async () => {
    // Generated test numbers +1 201 555 01xx, all consenting; the segment fails at FAILING_ROW.
    const loaded = segmentJob(`SELECT CAST(${failing(DRY_RUN_ROWS)} AS VARCHAR) AS customer_id, '+120155501' || lpad(CAST(i % 100 AS VARCHAR), 2, '0') AS phone, 'Ann' AS first_name, true AS opt_in FROM ${series(DRY_RUN_ROWS)}`);
    const provider = new ScriptedProvider(accepted);
    // DuckDB's spool meets the error as the segment opens (runJob throws it); PostgreSQL's cursor
    // after some rows (the run ends failed). Either way the error, never a short success.
    const outcome = await runJob({ loaded, wh, provider, senders: new SenderRegistry(), logger: silentLogger, dryRun: true })
      .then((summary) => `${summary.status}: ${summary.error}`, (err: unknown) => `threw: ${errorMessage(err)}`);
    expect(outcome).toMatch(/^(failed|threw): /);
    expect(outcome).toMatch(message);
    expect(provider.calls).toHaveLength(0);
    const [planned] = await wh.query<{ n: number }>("SELECT count(*) AS n FROM herald.sends WHERE job = 'stream_error'");
    expect(Number(planned!.n)).toBeLessThan(DRY_RUN_ROWS);
  });
});
