/**
 * The one small interface both engines implement. Stages and the store never know which engine
 * they talk to; engine differences (batched writes, streaming, locks) live behind these methods.
 */
import type { TableSpec } from './tables.js';

/** A value bound to a `$n` parameter. */
export type SqlValue = string | number | boolean | null | Date | readonly string[];
export type Row = Record<string, unknown>;

/** A segment query that has started: its columns are known, its rows stream in chunks. */
export interface RowStream {
  columns: string[];
  chunks: AsyncIterable<Row[]>;
  /** Stops reading early and frees the cursor. Safe to call twice. */
  close(): Promise<void>;
}

export interface Warehouse {
  readonly kind: 'duckdb' | 'postgres';
  /** Where it points, with any password masked; for messages and logs. */
  readonly description: string;
  /**
   * Runs a read query and streams its rows; SQL errors surface here, before the first row.
   * With `columns`, rows carry only those of them (the rest is never converted to JS values).
   * `detached`: the caller reads slowly while it writes herald's tables (a run's segment), so the
   * query must not stay open meanwhile. DuckDB copies the result to a temp table and reads it in
   * short pages (an open read there pins every version the writes create); PostgreSQL's MVCC is
   * not slowed by an open cursor, which keeps streaming.
   */
  stream(sql: string, params: readonly SqlValue[], options?: { columns?: readonly string[]; chunkRows?: number; detached?: boolean }): Promise<RowStream>;
  /** Column names of a query's result, without reading its rows. */
  describe(sql: string, params: readonly SqlValue[]): Promise<string[]>;
  query<T extends object = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Inserts rows in one batched write; with `ignoreDuplicates`, rows whose key exists are skipped. */
  insert(table: TableSpec, rows: readonly Row[], options?: { ignoreDuplicates?: boolean }): Promise<void>;
  /**
   * Updates the given columns of existing rows, matched on the table's key, in one batched write.
   * `recentOn` names a timestamp column every target row has at or after its value in `rows`:
   * rows are appended in that order, so DuckDB's zone maps skip older row groups instead of
   * scanning the table's whole history.
   */
  update(table: TableSpec, rows: readonly Row[], columns: readonly string[], options?: { recentOn?: string }): Promise<void>;
  /**
   * Holds an exclusive lock on `name` until the returned release is called, or returns null when
   * another holder has it. PostgreSQL: a session advisory lock; DuckDB: in-process (the file lock
   * already keeps other processes out).
   */
  tryLock(name: string): Promise<(() => Promise<void>) | null>;
  close(): Promise<void>;
}
