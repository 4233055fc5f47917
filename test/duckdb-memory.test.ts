/**
 * DuckDB's memory follows the phase of streamed queries (src/warehouse/duckdb.memory.ts): the full
 * limit while a query computes, the streaming limit while rows flow. Real DuckDB, on a file.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { SENDS } from '../src/warehouse/tables.js';
import type { RowStream } from '../src/warehouse/warehouse.js';

// Fails with "Out of Memory" at 32MB and finishes at 128MB (DuckDB 1.5, measured): a stand-in for
// a user's "latest row per customer" segment.
const HEAVY = 'SELECT DISTINCT ON (k) k, pad FROM big ORDER BY k, pad';
const HEAVY_ROWS = 300_000;

let dir: string;
let wh: DuckDbWarehouse;

const limit = (w: DuckDbWarehouse = wh) => w.memoryLimit();

async function drain(stream: RowStream): Promise<number> {
  let rows = 0;
  for await (const chunk of stream.chunks) rows += chunk.length;
  return rows;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-duckdb-memory-'));
  wh = await DuckDbWarehouse.open(join(dir, 'w.duckdb'), { memory_limit: '128MB', streaming_memory_limit: '32MB' });
  await wh.query(`CREATE TABLE big AS SELECT 'k' || i AS k, repeat('x', 40) AS pad FROM range(${HEAVY_ROWS}) t(i)`);
});

afterAll(async () => {
  await wh.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('DuckDB memory phases', () => {
  it('the heavy query really needs the full limit', async () => {
    const small = await DuckDbWarehouse.open(join(dir, 'w.duckdb.small'), { memory_limit: '32MB', streaming_memory_limit: 'off' });
    try {
      await small.query(`CREATE TABLE big AS SELECT 'k' || i AS k, repeat('x', 40) AS pad FROM range(${HEAVY_ROWS}) t(i)`);
      await expect(small.stream(HEAVY, []).then(drain)).rejects.toThrow(/Out of Memory/);
      await expect(small.query(`SELECT count(*) AS n FROM (${HEAVY})`)).rejects.toThrow(/Out of Memory/);
    } finally {
      await small.close();
    }
  });

  it('lowers the limit once rows flow, and raises it for a query that starts meanwhile', async () => {
    const streaming = await wh.stream('SELECT k FROM big', []);
    const full = await limit();
    expect(full).toMatch(/^122\.\d MiB$/); // 128 MB while the query computes
    const rows = streaming.chunks[Symbol.asyncIterator]();
    await rows.next();
    await vi.waitFor(async () => expect(await limit()).not.toBe(full));
    const lowered = await limit();
    expect(lowered).toMatch(/^30\.\d MiB$/); // 32 MB

    // Computed under the full limit although another stream is flowing; at 32MB it fails.
    expect(await drain(await wh.stream(HEAVY, []))).toBe(HEAVY_ROWS);
    await vi.waitFor(async () => expect(await limit()).toBe(lowered));

    let rest = 1;
    for (let next = await rows.next(); !next.done; next = await rows.next()) rest++;
    expect(rest).toBeGreaterThan(1);
    await streaming.close();
  });

  it('raises the limit again before the next streamed query computes', async () => {
    expect(await limit()).toMatch(/^30\.\d MiB$/); // left lowered by the previous test
    expect(await drain(await wh.stream(HEAVY, []))).toBe(HEAVY_ROWS);
  });

  it('computes a query() under the full limit while rows flow at the streaming limit', async () => {
    const streaming = await wh.stream('SELECT k FROM big', []);
    await streaming.chunks[Symbol.asyncIterator]().next();
    await vi.waitFor(async () => expect(await limit()).toMatch(/^30\.\d MiB$/));
    // A report's aggregate over a heavy join: fails at 32MB (first test), succeeds here.
    const [row] = await wh.query<{ n: number }>(`SELECT count(*) AS n FROM (${HEAVY})`);
    expect(row!.n).toBe(HEAVY_ROWS);
    await streaming.close();
  });

  it('is on by default at 32MB, and `off` keeps the full limit', async () => {
    const byDefault = await DuckDbWarehouse.open(join(dir, 'default.duckdb'));
    const off = await DuckDbWarehouse.open(join(dir, 'off.duckdb'), { streaming_memory_limit: 'off' });
    try {
      const full = await limit(off);
      await drain(await byDefault.stream('SELECT * FROM range(10000)', []));
      await drain(await off.stream('SELECT * FROM range(10000)', []));
      await vi.waitFor(async () => expect(await limit(byDefault)).toMatch(/^30\.\d MiB$/));
      expect(await limit(off)).toBe(full);
      expect(full).toMatch(/^122\.\d MiB$/); // 128MB
    } finally {
      await byDefault.close();
      await off.close();
    }
  });

  it('stays at the full limit when the streaming limit is not below it', async () => {
    const same = await DuckDbWarehouse.open(join(dir, 'same.duckdb'), { memory_limit: '32MB', streaming_memory_limit: '64MB' });
    try {
      const before = await limit(same);
      await drain(await same.stream('SELECT * FROM range(10000)', []));
      expect(await limit(same)).toBe(before);
    } finally {
      await same.close();
    }
  });

  it('names the setting when the streaming limit is not a size', async () => {
    await expect(DuckDbWarehouse.open(join(dir, 'bad.duckdb'), { streaming_memory_limit: 'lots' })).rejects.toThrow(ConfigError);
    await expect(DuckDbWarehouse.open(join(dir, 'bad.duckdb'), { streaming_memory_limit: 'lots' })).rejects.toThrow(/streaming_memory_limit/);
  });
  it('leaves the row groups each checkpoint writes unmerged, unless max_vacuum_tasks turns merging on', async () => {
    // A real send checkpoints every ~45,000 sends; merging those row groups rewrote every column of
    // up to 122,880 rows in memory at each checkpoint (+70-100 MB RSS, bench/memory.ts --send).
    const rowGroups = async (settings: Record<string, string>, file: string): Promise<number> => {
      const ledger = await DuckDbWarehouse.open(join(dir, file), settings);
      try {
        for (let batch = 0; batch < 3; batch++) {
          await ledger.insert(SENDS, Array.from({ length: 10_000 }, (_, k) => {
            const i = batch * 10_000 + k;
            return { send_id: `s${i}`, run_id: 'r1', job: 'j', row_key: `k${i}`, idempotency_key: `i${i}`, provider: 'sandbox', status: 'accepted', attempts: 1, created_at: new Date(Date.UTC(2026, 11, 1) + i * 1000) };
          }));
          await ledger.query('CHECKPOINT');
        }
        expect(await ledger.query('SELECT count(*)::INTEGER AS n FROM herald.sends')).toEqual([{ n: 30_000 }]);
        const [row] = await ledger.query<{ groups: number }>("SELECT count(DISTINCT row_group_id)::INTEGER AS groups FROM pragma_storage_info('herald.sends')");
        return row!.groups;
      } finally {
        await ledger.close();
      }
    };
    expect(await rowGroups({}, 'unmerged.duckdb')).toBe(3);
    expect(await rowGroups({ max_vacuum_tasks: '100' }, 'merged.duckdb')).toBeLessThan(3);
  });

  it('writes while rows flow: a write or checkpoint that needs more than the streaming limit gets the full one', async () => {
    // Settling 2,000 sends spread over a ledger of 300,000 at a 4MB streaming limit runs out of
    // memory (the write is retried at the full limit), and with a 1-byte threshold every write is
    // followed by a checkpoint, which needs more than 4MB too: a checkpoint that fails inside a
    // commit invalidates the database.
    const ledger = await DuckDbWarehouse.open(join(dir, 'ledger.duckdb'), { memory_limit: '128MB', streaming_memory_limit: '4MB', checkpoint_threshold: '1B' });
    try {
      await ledger.query(`INSERT INTO herald.sends (send_id, run_id, job, row_key, idempotency_key, provider, status, attempts, created_at, recipient)
        SELECT 's' || i, 'r1', 'j', 'k' || i, 'i' || i, 'meta', 'in_flight', 1, TIMESTAMPTZ '2026-12-01 00:00:00+00' + to_seconds(i), '+8190' || (10000000 + i)
        FROM range(300000) t(i)`);
      const streaming = await ledger.stream('SELECT k FROM range(100000) t(k)', []);
      const rows = streaming.chunks[Symbol.asyncIterator]();
      await rows.next();
      await vi.waitFor(async () => expect(await ledger.memoryLimit()).toMatch(/^3\.\d MiB$/)); // rows flow: the streaming limit
      const settled = Array.from({ length: 2000 }, (_, i) => ({ send_id: `s${i * 150}`, created_at: new Date(Date.UTC(2026, 11, 1) + i * 150_000), status: 'accepted' }));
      await ledger.update(SENDS, settled, ['status'], { recentOn: 'created_at' });
      await streaming.close();
      expect(await ledger.query("SELECT count(*)::INTEGER AS n FROM herald.sends WHERE status = 'accepted'")).toEqual([{ n: 2000 }]);
    } finally {
      await ledger.close();
    }
  });

  it('checkpoints once the log passes checkpoint_threshold, not at every commit', async () => {
    const file = join(dir, 'wal.duckdb');
    const wal = () => (existsSync(`${file}.wal`) ? statSync(`${file}.wal`).size : 0);
    const ledger = await DuckDbWarehouse.open(file, { checkpoint_threshold: '256KB' });
    try {
      const sizes: number[] = [];
      for (let batch = 0; batch < 40; batch++) {
        const rows = Array.from({ length: 200 }, (_, i) => ({
          send_id: `s${batch}-${i}`, run_id: 'r1', job: 'j', row_key: `k${batch}-${i}`, idempotency_key: `i${batch}-${i}`,
          provider: 'meta', status: 'in_flight', attempts: 1, created_at: new Date(), variables: JSON.stringify({ pad: 'x'.repeat(100) }),
        }));
        await ledger.write([{ insert: SENDS, rows }, { update: SENDS, rows: rows.slice(0, 10).map((r) => ({ ...r, status: 'accepted' })), columns: ['status'] }]);
        sizes.push(wal());
      }
      // The log grows write by write (no checkpoint at each commit), and never stays past the threshold.
      expect(sizes.filter((s, i) => i > 0 && s > sizes[i - 1]!).length).toBeGreaterThan(20);
      expect(Math.max(...sizes)).toBeLessThan(256 * 1024);
      expect(sizes.some((s, i) => i > 0 && s < sizes[i - 1]!)).toBe(true); // it was checkpointed
    } finally {
      await ledger.close();
    }
    expect(wal()).toBe(0); // checkpointed at close
  });
});
