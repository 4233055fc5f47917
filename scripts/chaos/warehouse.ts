/**
 * The warehouse a scenario runs on, seen from outside herald: a DuckDB file, a fresh database on
 * the local PostgreSQL server, or one on the throwaway cluster. The segment is loaded with the
 * engines' own clients, and herald's tables are read back with plain SQL at the end (for DuckDB,
 * once herald serve has let go of the file).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import type { SegmentRow } from './segment.js';

export type Engine = 'duckdb' | 'postgres';

export const SEGMENT_TABLE = 'chaos_segment';
export const SEGMENT_SQL = `SELECT customer_id, phone, first_name, whatsapp_opt_in FROM ${SEGMENT_TABLE} ORDER BY ord`;

export interface RunRow {
  run_key: string;
  status: string;
  error: string | null;
  accepted: number | null;
  unknown: number | null;
}

export interface Inspection {
  /** Row keys whose sends are `unknown` and never became accepted or failed, by reason. */
  unknownByReason: Record<string, number>;
  unknownLeft: number;
  /** `wamid status` of every Meta event in herald.events. */
  events: Set<string>;
  runs: RunRow[];
}

export interface ChaosWarehouse {
  engine: Engine;
  /** HERALD_WAREHOUSE_URL for herald. */
  url: string;
  load(rows: readonly SegmentRow[]): Promise<void>;
  inspect(job: string): Promise<Inspection>;
  dispose(): Promise<void>;
}

const UNKNOWN_SQL = `
  SELECT coalesce(reason, '(none)') AS reason, count(DISTINCT row_key) AS n FROM herald.sends
  WHERE job = $1 AND status = 'unknown'
    AND row_key NOT IN (SELECT row_key FROM herald.sends WHERE job = $1 AND status IN ('accepted', 'failed'))
  GROUP BY 1 ORDER BY 2 DESC`;
const UNKNOWN_TOTAL_SQL = `
  SELECT count(DISTINCT row_key) AS n FROM herald.sends
  WHERE job = $1 AND status = 'unknown'
    AND row_key NOT IN (SELECT row_key FROM herald.sends WHERE job = $1 AND status IN ('accepted', 'failed'))`;
const EVENTS_SQL = "SELECT provider_message_id, event_type FROM herald.events WHERE provider = 'meta' AND provider_message_id IS NOT NULL";
const RUNS_SQL = 'SELECT run_key, status, error, accepted, unknown FROM herald.runs WHERE job = $1 ORDER BY started_at';

type Query = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

async function inspectWith(query: Query, job: string): Promise<Inspection> {
  const byReason = await query<{ reason: string; n: number | bigint }>(UNKNOWN_SQL, [job]);
  const [total] = await query<{ n: number | bigint }>(UNKNOWN_TOTAL_SQL, [job]);
  const events = await query<{ provider_message_id: string; event_type: string }>(EVENTS_SQL);
  const runs = await query<RunRow>(RUNS_SQL, [job]);
  return {
    unknownByReason: Object.fromEntries(byReason.map((r) => [r.reason, Number(r.n)])),
    unknownLeft: Number(total?.n ?? 0),
    events: new Set(events.map((e) => `${e.provider_message_id} ${e.event_type}`)),
    runs: runs.map((r) => ({ ...r, accepted: r.accepted === null ? null : Number(r.accepted), unknown: r.unknown === null ? null : Number(r.unknown) })),
  };
}

export class DuckDbFile implements ChaosWarehouse {
  readonly engine = 'duckdb' as const;
  readonly url: string;

  constructor(readonly path: string) {
    this.url = `duckdb:${path}`;
  }

  static in(dir: string): DuckDbFile {
    return new DuckDbFile(join(dir, 'warehouse.duckdb'));
  }

  private async withConnection<T>(work: (query: Query) => Promise<T>): Promise<T> {
    const instance = await DuckDBInstance.create(this.path);
    const connection = await instance.connect();
    try {
      return await work(async <R>(sql: string, params: unknown[] = []) => {
        const reader = await connection.runAndReadAll(sql, params as never);
        return reader.getRowObjectsJS() as R[];
      });
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }

  async load(rows: readonly SegmentRow[]): Promise<void> {
    await this.withConnection(async (query) => {
      await query(`CREATE TABLE ${SEGMENT_TABLE} (customer_id VARCHAR, phone VARCHAR, first_name VARCHAR, whatsapp_opt_in VARCHAR, ord INTEGER)`);
      const values = rows.map((r) => `(${[r.customer_id, r.phone, r.first_name, r.whatsapp_opt_in].map(sqlString).join(', ')}, ${r.ord})`);
      for (let i = 0; i < values.length; i += 1000) await query(`INSERT INTO ${SEGMENT_TABLE} VALUES ${values.slice(i, i + 1000).join(', ')}`);
      await query('CHECKPOINT');
    });
  }

  inspect(job: string): Promise<Inspection> {
    return this.withConnection((query) => inspectWith(query, job));
  }

  async dispose(): Promise<void> {
    // The file lives in the scenario's temp dir, removed with it.
  }
}

/** A fresh database `herald_chaos_<pid>_<hex>` on a server reached through `adminUrl`; dropped by dispose. */
export class PgDatabase implements ChaosWarehouse {
  readonly engine = 'postgres' as const;

  private constructor(private readonly adminUrl: string, readonly name: string, readonly url: string) {}

  static async create(adminUrl: string): Promise<PgDatabase> {
    const name = `herald_chaos_${process.pid}_${randomBytes(4).toString('hex')}`;
    await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return new PgDatabase(adminUrl, name, url.toString());
  }

  async load(rows: readonly SegmentRow[]): Promise<void> {
    await withClient(this.url, async (c) => {
      await c.query(`CREATE TABLE ${SEGMENT_TABLE} (customer_id text, phone text, first_name text, whatsapp_opt_in text, ord integer)`);
      await c.query(`INSERT INTO ${SEGMENT_TABLE} SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])`, [
        rows.map((r) => r.customer_id), rows.map((r) => r.phone), rows.map((r) => r.first_name), rows.map((r) => r.whatsapp_opt_in), rows.map((r) => r.ord),
      ]);
    });
  }

  inspect(job: string): Promise<Inspection> {
    return withClient(this.url, (c) => inspectWith(async <R>(sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows as R[], job));
  }

  async dispose(): Promise<void> {
    await dropDatabase(this.adminUrl, this.name);
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

export async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // a restart of the server under an idle client must not crash the suite
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
