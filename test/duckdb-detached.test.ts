/**
 * A DuckDB stream (detached or not) is copied to a spool and read in short pages, so the ledger
 * writes a run makes meanwhile are not pinned behind an open read. Real DuckDB, on a file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import type { TableSpec } from '../src/warehouse/tables.js';
import type { Row, RowStream, SqlValue } from '../src/warehouse/warehouse.js';

const LEDGER: TableSpec = {
  name: 'ledger_t',
  key: 'id',
  columns: [{ name: 'id', type: 'text', notNull: true }, { name: 'status', type: 'text' }, { name: 'detail', type: 'text' }],
};

let dir: string;
let wh: DuckDbWarehouse;

async function drain(stream: RowStream): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const chunk of stream.chunks) rows.push(...chunk);
  return rows;
}

async function both(sql: string, params: SqlValue[] = [], columns?: string[]) {
  const [plain, detached] = [await wh.stream(sql, params, columns ? { columns } : {}), await wh.stream(sql, params, { ...(columns ? { columns } : {}), detached: true })];
  return { plain: { columns: plain.columns, rows: await drain(plain) }, detached: { columns: detached.columns, rows: await drain(detached) } };
}

/** DuckDB's memory held for transactions' old row versions, in bytes. */
async function transactionMemory(): Promise<number> {
  const [row] = await wh.query<{ bytes: number }>("SELECT memory_usage_bytes + temporary_storage_bytes AS bytes FROM duckdb_memory() WHERE tag = 'TRANSACTION'");
  return row!.bytes;
}

/** Settles `batches` × 200 ledger rows, one transaction per batch, as a run's settlements do. */
async function settle(batches: number, status: string): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const rows = Array.from({ length: 200 }, (_, i) => ({ id: `k${b * 200 + i}`, status, detail: `settled ${status} ${b}` }));
    await wh.update(LEDGER, rows, ['status', 'detail']);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-duckdb-detached-'));
  wh = await DuckDbWarehouse.open(join(dir, 'w.duckdb'), { memory_limit: '128MB' });
  await wh.query("CREATE TABLE seg AS SELECT i AS ord, 'c' || i AS customer_id, '+1201555' || lpad((i % 100)::varchar, 4, '0') AS phone, i % 7 = 0 AS opt_in FROM range(20000) t(i)");
  await wh.query('CREATE TABLE herald.ledger_t (id VARCHAR PRIMARY KEY, status VARCHAR, detail VARCHAR)');
  await wh.query("INSERT INTO herald.ledger_t SELECT 'k' || i, 'in_flight', NULL FROM range(40000) t(i)");
});

afterAll(async () => {
  await wh.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('detached DuckDB streams', () => {
  it('yield the same columns and rows, in order, as a streamed query', async () => {
    const sql = 'SELECT customer_id, phone, ord, opt_in FROM seg WHERE ord >= $1 ORDER BY ord DESC;';
    const { plain, detached } = await both(sql, [5], ['phone', 'customer_id', 'opt_in']);
    expect(detached.columns).toEqual(['customer_id', 'phone', 'ord', 'opt_in']);
    expect(detached.rows).toHaveLength(19_995); // several spool pages and a partial last one
    expect(detached.rows[0]).toEqual({ customer_id: 'c19999', phone: '+12015550099', opt_in: true });
    expect(detached.rows.at(-1)).toEqual({ customer_id: 'c5', phone: '+12015550005', opt_in: false });
    expect(detached).toEqual(plain);
  });

  it('name duplicated columns as `herald check` does, and read every column when none are named', async () => {
    const sql = "SELECT 1 AS a, 2 AS a, 'x y' AS \"odd \"\"name\"\"\"";
    const { plain, detached } = await both(sql);
    expect(detached.columns).toEqual(await wh.describe(sql, []));
    expect(detached.columns).toEqual(['a', 'a_1', 'odd "name"']);
    expect(detached.rows.map((r) => Object.values(r))).toEqual(plain.rows.map((r) => Object.values(r)));
    expect(Object.values(detached.rows[0]!)).toEqual([1, 2, 'x y']);
  });

  it('end at once on an empty result', async () => {
    const { plain, detached } = await both('SELECT customer_id FROM seg WHERE ord < 0');
    expect(detached).toEqual(plain);
    expect(detached.columns).toEqual(['customer_id']);
  });

  it('raise SQL errors before the first row', async () => {
    await expect(wh.stream('SELECT nope FROM seg', [], { detached: true })).rejects.toThrow(/nope/);
  });

  it('do not pin the row versions that settlements write while the stream is open, detached or not', async () => {
    // A query held open meanwhile kept every old version: over 8 MiB for these settlements.
    for (const [detached, status] of [[true, 'accepted'], [false, 'delivered']] as const) {
      const baseline = await transactionMemory();
      const stream = await wh.stream('SELECT * FROM seg ORDER BY ord', [], { detached });
      const reading = stream.chunks[Symbol.asyncIterator]();
      await reading.next();
      await settle(100, status);
      await reading.next(); // still open while the settlements committed
      const whileOpen = (await transactionMemory()) - baseline;
      await stream.close();
      expect(whileOpen).toBeLessThan(2 * 2 ** 20);
    }
    const [row] = await wh.query<{ n: number }>("SELECT count(*) AS n FROM herald.ledger_t WHERE status = 'delivered'");
    expect(row!.n).toBe(20_000);
  });

  it('free the spool when closed early', async () => {
    // A temp table is visible only to its own connection: DuckDB's memory accounting shows it.
    const spoolBytes = async () => (await wh.query<{ bytes: number }>(
      "SELECT memory_usage_bytes + temporary_storage_bytes AS bytes FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'"))[0]!.bytes;
    const before = await spoolBytes();
    const stream = await wh.stream("SELECT i, 'row ' || i AS label FROM range(300000) t(i)", [], { detached: true });
    await stream.chunks[Symbol.asyncIterator]().next();
    const open = await spoolBytes();
    await stream.close();
    expect(open - before).toBeGreaterThan(2 ** 20);
    expect(await spoolBytes()).toBeLessThanOrEqual(before);
  });
});
