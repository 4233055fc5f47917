/**
 * The one small interface both engines implement. Stages and the store never know which engine
 * they talk to; engine differences (batched writes, streaming, locks) live behind these methods.
 */
import { LedgerMismatchError, errorMessage } from '../errors.js';
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

/**
 * One write of a ledger step. An update matches rows on the table's key; a key named twice takes
 * its last row. `recentOn` names a timestamp column every target row has at or after its value in
 * `rows`: rows are appended in that order, so DuckDB's zone maps skip older row groups instead of
 * scanning the table's whole history.
 */
export type WriteOp =
  | { insert: TableSpec; rows: readonly Row[]; ignoreDuplicates?: boolean }
  | { update: TableSpec; rows: readonly Row[]; columns: readonly string[]; recentOn?: string };

/** A lock held until released; `lost` fires if it goes away underneath (a dropped connection). */
export interface HeldLock {
  release(): Promise<void>;
  readonly lost: AbortSignal;
}

export interface LockOptions {
  shared?: boolean;
}

export interface Warehouse {
  readonly kind: 'duckdb' | 'postgres';
  /**
   * The shortest time a sending run's ledger writes gather over (batchWindowMs in dispatch/senders):
   * what a commit costs sets it. DuckDB's costs ~9 ms of CPU whatever it holds, PostgreSQL's ~1 ms.
   */
  readonly minBatchWindowMs: number;
  /** Where it points, with any password masked; for messages and logs. */
  readonly description: string;
  /**
   * Runs a read query and streams its rows. Every row is delivered or the stream rejects with the
   * query's error, never ends short: DuckDB copies every result to a temp table first (its own
   * streamed results end as if complete when the query fails mid-way) and reads it in short pages,
   * so SQL errors surface here, before the first row; PostgreSQL's cursor rejects the read that
   * meets the error. With `columns`, rows carry only those of them (the rest is never converted to
   * JS values). `detached` says the caller reads slowly while it writes herald's tables (a run's
   * segment): neither engine needs more for it now (DuckDB's pages are short transactions, and
   * PostgreSQL's MVCC is not slowed by an open cursor).
   */
  stream(sql: string, params: readonly SqlValue[], options?: { columns?: readonly string[]; chunkRows?: number; detached?: boolean }): Promise<RowStream>;
  /** Column names of a query's result, without reading its rows. */
  describe(sql: string, params: readonly SqlValue[]): Promise<string[]>;
  query<T extends object = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /**
   * The ops in order, atomically (all or none), each a batched statement. Every update must find
   * each row it names: when one does not, LedgerMismatchError is thrown (a settlement that
   * silently touched nothing once let resumed sends go out twice).
   */
  write(ops: readonly WriteOp[]): Promise<void>;
  /** `write` of one insert; with `ignoreDuplicates`, rows whose key exists are skipped. */
  insert(table: TableSpec, rows: readonly Row[], options?: { ignoreDuplicates?: boolean }): Promise<void>;
  /** `write` of one update. */
  update(table: TableSpec, rows: readonly Row[], columns: readonly string[], options?: { recentOn?: string }): Promise<void>;
  /**
   * Holds a lock on `name`, or returns null when another holder has it: exclusive, or with
   * `shared` one that other shared holders may hold at once (the parts of a run) while an
   * exclusive holder (a CLI run of the job) excludes them all. PostgreSQL: a session advisory
   * lock on a connection of its own (lost when that connection drops); DuckDB: in-process (the
   * file lock already keeps other processes out).
   */
  tryLock(name: string, options?: LockOptions): Promise<HeldLock | null>;
  close(): Promise<void>;
}

/** Rows of an update, one per key, the last of each key winning. */
export function lastPerKey(rows: readonly Row[], key: string): Row[] {
  const byKey = new Map<unknown, Row>();
  for (const row of rows) byKey.set(row[key], row);
  return byKey.size === rows.length ? [...rows] : [...byKey.values()];
}

export function mismatch(table: TableSpec, expected: number, touched: number): LedgerMismatchError {
  return new LedgerMismatchError(`an update of herald.${table.name} matched ${touched} of its ${expected} rows: the ledger and this run disagree; the run stops`);
}

// pg's own words when a connection breaks (no SQLSTATE), and Node's socket errors.
const CONNECTION = /connection|terminated|timeout|not queryable|ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN/i;

/**
 * The warehouse went away (a PostgreSQL restart: SQLSTATE class 08 or 57P; a dropped socket), as
 * opposed to a statement's own error: a run stops `aborted` and resumes; a webhook gets 503.
 */
export function isConnectionLoss(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const text = typeof code === 'string' ? code : '';
  return /^(08|57P)/.test(text) || CONNECTION.test(`${text} ${errorMessage(err)}`);
}
