/**
 * PostgreSQL through `pg`: segment reads stream through a server-side cursor; writes are one
 * statement per batch over `unnest` arrays (a constant number of parameters, whatever the batch).
 */
import pg from 'pg';
import Cursor from 'pg-cursor';
import { WarehouseError, errorMessage } from '../errors.js';
import { migrationStatements, sqlType, stripTrailingSemicolon } from './migrate.js';
import type { TableSpec } from './tables.js';
import type { Row, RowStream, SqlValue, Warehouse } from './warehouse.js';

// Migrations from several processes at once would race on the catalog; this lock serializes them.
const MIGRATION_LOCK = 7_315_004_201;

export class PostgresWarehouse implements Warehouse {
  readonly kind = 'postgres' as const;

  private constructor(private readonly pool: pg.Pool, private readonly url: string, readonly description: string) {}

  static async open(url: string): Promise<PostgresWarehouse> {
    const description = maskPassword(url);
    const pool = new pg.Pool({ connectionString: url, max: 10, types: { getTypeParser } });
    pool.on('error', () => undefined); // idle-client errors surface on the next query instead
    const warehouse = new PostgresWarehouse(pool, url, description);
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new WarehouseError(`cannot connect to PostgreSQL at ${description}: ${errorMessage(err)}`, { cause: err });
    }
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      for (const statement of migrationStatements('postgres')) await client.query(statement);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new WarehouseError(`cannot create the herald schema in ${description}: ${errorMessage(err)}`, { cause: err });
    } finally {
      client.release();
    }
    return warehouse;
  }

  // pg parses whole rows, so `columns` is not needed here: rows carry every column.
  async stream(sql: string, params: readonly SqlValue[], options: { chunkRows?: number } = {}): Promise<RowStream> {
    const chunkRows = options.chunkRows ?? 2000;
    const client = await this.pool.connect();
    const cursor = client.query(new Cursor(sql, [...params]));
    let released = false;
    const close = async () => {
      if (released) return;
      released = true;
      await cursor.close().catch(() => undefined);
      client.release();
    };
    let first: Row[];
    let columns: string[];
    try {
      first = await cursor.read(chunkRows);
      columns = (cursor as unknown as { _result?: { fields?: { name: string }[] } })._result?.fields?.map((f) => f.name) ?? Object.keys(first[0] ?? {});
    } catch (err) {
      await close();
      throw err;
    }
    async function* chunks(): AsyncGenerator<Row[]> {
      try {
        let rows = first;
        while (rows.length > 0) {
          yield rows;
          rows = await cursor.read(chunkRows);
        }
      } finally {
        await close();
      }
    }
    return { columns, chunks: chunks(), close };
  }

  async describe(sql: string, params: readonly SqlValue[]): Promise<string[]> {
    const result = await this.pool.query(`SELECT * FROM (\n${stripTrailingSemicolon(sql)}\n) AS herald_describe LIMIT 0`, [...params]);
    return result.fields.map((f) => f.name);
  }

  async query<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const result = await this.pool.query(sql, [...params]);
    return result.rows as T[];
  }

  async insert(table: TableSpec, rows: readonly Row[], options: { ignoreDuplicates?: boolean } = {}): Promise<void> {
    if (rows.length === 0) return;
    const columns = table.columns.map((c) => c.name);
    const unnest = table.columns.map((c, i) => `$${i + 1}::${sqlType('postgres', c.type)}[]`).join(', ');
    const conflict = options.ignoreDuplicates ? ` ON CONFLICT (${table.key}) DO NOTHING` : '';
    await this.pool.query(
      `INSERT INTO herald.${table.name} (${columns.join(', ')}) SELECT * FROM unnest(${unnest})${conflict}`,
      table.columns.map((c) => rows.map((r) => toPg(r[c.name], c.type === 'json'))));
  }

  // The primary key finds the rows; PostgreSQL needs no `recentOn` hint.
  async update(table: TableSpec, rows: readonly Row[], columns: readonly string[]): Promise<void> {
    if (rows.length === 0) return;
    const specs = [table.key, ...columns].map((name) => {
      const spec = table.columns.find((c) => c.name === name);
      if (!spec) throw new Error(`herald.${table.name} has no column ${name}`);
      return spec;
    });
    const unnest = specs.map((c, i) => `$${i + 1}::${sqlType('postgres', c.type)}[]`).join(', ');
    const set = columns.map((c) => `${c} = u.${c}`).join(', ');
    await this.pool.query(
      `UPDATE herald.${table.name} AS t SET ${set} FROM unnest(${unnest}) AS u(${specs.map((c) => c.name).join(', ')}) ` +
      `WHERE t.${table.key} = u.${table.key}`,
      specs.map((c) => rows.map((r) => toPg(r[c.name], c.type === 'json'))));
  }

  async tryLock(name: string): Promise<(() => Promise<void>) | null> {
    // A session lock needs its own connection for as long as it is held.
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [name]);
    if (!rows[0]?.locked) {
      await client.end();
      return null;
    }
    return async () => {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]).catch(() => undefined);
      await client.end().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Same JS values as DuckDB returns: safe bigints as numbers, JSON as its text. */
const { getTypeParser: defaultParser } = pg.types;
function getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === pg.types.builtins.INT8) return (v) => (Number.isSafeInteger(Number(v)) ? Number(v) : v);
  if (oid === pg.types.builtins.JSON || oid === pg.types.builtins.JSONB) return (v) => v;
  return defaultParser(oid, format as 'text') as (value: string) => unknown;
}

function toPg(value: unknown, json: boolean): unknown {
  if (value === undefined) return null;
  if (json && value !== null && typeof value !== 'string') return JSON.stringify(value);
  return value;
}

export function maskPassword(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
