/**
 * Creates the `herald` schema, tables and views on first use, and brings an older herald's up to
 * date. Every statement is idempotent (`IF NOT EXISTS` / `OR REPLACE`), but they run only when the
 * store's recorded schema version differs from this herald's: `ALTER TABLE` and `CREATE OR REPLACE
 * VIEW` take exclusive locks even when they change nothing, so migrating at every start made two
 * PostgreSQL processes starting beside a third's open transaction deadlock (CI, scale-out), and
 * cost every DuckDB start its catalog rewrites.
 */
import { createHash } from 'node:crypto';
import { TABLES, VIEWS, type ColumnType, type TableSpec } from './tables.js';

export type Dialect = 'duckdb' | 'postgres';

// PostgreSQL stores JSON as `json` (the text, validated) rather than `jsonb`: herald writes raw
// provider payloads far more often than it queries into them, and jsonb's parse on insert halved
// webhook ingest (80k rows/s with json vs 40k with jsonb, measured on this machine). `->` and
// `->>` work on both.
const TYPES: Record<Dialect, Record<ColumnType, string>> = {
  duckdb: { text: 'VARCHAR', integer: 'BIGINT', boolean: 'BOOLEAN', timestamptz: 'TIMESTAMPTZ', json: 'JSON' },
  postgres: { text: 'text', integer: 'bigint', boolean: 'boolean', timestamptz: 'timestamptz', json: 'json' },
};

export function sqlType(dialect: Dialect, type: ColumnType): string {
  return TYPES[dialect][type];
}

export function migrationStatements(dialect: Dialect): string[] {
  const statements = ['CREATE SCHEMA IF NOT EXISTS herald'];
  for (const table of TABLES) {
    statements.push(createTable(dialect, table));
    // Tables made by an older herald get the columns added since, at the end, as CREATE would put them.
    for (const c of table.columns) statements.push(`ALTER TABLE herald.${table.name} ADD COLUMN IF NOT EXISTS ${c.name} ${sqlType(dialect, c.type)}`);
    if (dialect === 'postgres') {
      for (const index of table.pgIndexes ?? []) {
        if ('where' in index) {
          statements.push(`CREATE INDEX IF NOT EXISTS ${index.name} ON herald.${table.name} (${index.columns.join(', ')}) WHERE ${index.where}`);
        } else {
          statements.push(`CREATE INDEX IF NOT EXISTS ${table.name}_${index.join('_')}_idx ON herald.${table.name} (${index.join(', ')})`);
        }
      }
      for (const name of table.pgDroppedIndexes ?? []) statements.push(`DROP INDEX IF EXISTS herald.${name}`);
      // Fails on a table that already holds two rows with the same values: the error names the index.
      for (const columns of table.pgUnique ?? []) {
        statements.push(`CREATE UNIQUE INDEX IF NOT EXISTS ${table.name}_${columns.join('_')}_unique ON herald.${table.name} (${columns.join(', ')})`);
      }
    }
  }
  for (const view of VIEWS) statements.push(`CREATE OR REPLACE VIEW herald.${view.name} AS ${view.sql.trim()}`);
  return statements;
}

/** This herald's schema: a digest of its migration statements, so any change to them is a new version. */
export function schemaVersion(dialect: Dialect): string {
  return createHash('sha256').update(migrationStatements(dialect).join(';\n')).digest('hex').slice(0, 16);
}

/** Run after the migration, in its transaction: the store is at `version`. */
export function recordSchemaVersion(dialect: Dialect, version: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS herald.schema_version (version ${sqlType(dialect, 'text')} NOT NULL, migrated_at ${sqlType(dialect, 'timestamptz')} NOT NULL)`,
    'DELETE FROM herald.schema_version',
    `INSERT INTO herald.schema_version VALUES ('${version}', now())`,
  ];
}

/** The schema version a store records, null when it records none (new, or migrated by an older herald). */
export async function storedSchemaVersion(query: (sql: string) => Promise<{ version?: unknown }[]>): Promise<string | null> {
  // Asked of the catalog first: a failed SELECT would abort the PostgreSQL transaction it runs in.
  const [table] = await query("SELECT table_name AS version FROM information_schema.tables WHERE table_schema = 'herald' AND table_name = 'schema_version'");
  if (!table) return null;
  const [row] = await query('SELECT version FROM herald.schema_version LIMIT 1');
  return typeof row?.version === 'string' ? row.version : null;
}

function createTable(dialect: Dialect, table: TableSpec): string {
  const columns = table.columns.map((c) => `${c.name} ${sqlType(dialect, c.type)}${c.notNull ? ' NOT NULL' : ''}`);
  // DuckDB keeps ART indexes in memory; the key is enforced by herald's writes instead.
  if (dialect === 'postgres') columns.push(`PRIMARY KEY (${table.key})`);
  return `CREATE TABLE IF NOT EXISTS herald.${table.name} (${columns.join(', ')})`;
}

/** Wrapping a user's query as a subquery needs its trailing semicolon (and comments after it) gone. */
export function stripTrailingSemicolon(sql: string): string {
  return sql.replace(/;\s*(--[^\n]*\s*)*$/, '');
}
