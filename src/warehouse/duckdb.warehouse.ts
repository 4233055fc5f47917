/**
 * The embedded default: DuckDB through @duckdb/node-api. Reads are copied to a spool and paged
 * (`spooled`; the read-all helpers keep every chunk); writes go through the Appender into a staging table and
 * are merged with one statement (INSERT … VALUES is ~25× slower).
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as DuckDB from '@duckdb/node-api';
import type { DuckDBAppender, DuckDBConnection, DuckDBDataChunk, DuckDBInstance as Instance, DuckDBTimestampTZValue as TimestampTZValue, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { WarehouseError, errorMessage } from '../errors.js';
import { MemoryPhases, sizeInBytes } from './duckdb.memory.js';
import { migrationStatements, recordSchemaVersion, schemaVersion, storedSchemaVersion, stripTrailingSemicolon } from './migrate.js';
import type { ColumnSpec, TableSpec } from './tables.js';
import { lastPerKey, mismatch, type HeldLock, type LockOptions, type Row, type RowStream, type SqlValue, type Warehouse, type WriteOp } from './warehouse.js';

// Through require: for named ESM imports of a CommonJS package, Node lexes every file it
// re-exports, ~180 ms of each CLI start (issue 14); the module itself is the same.
const { BOOLEAN, DOUBLE, DuckDBInstance, JSDuckDBValueConverter, DuckDBTimestampTZValue, LIST, TIMESTAMPTZ, VARCHAR, listValue } =
  createRequire(import.meta.url)('@duckdb/node-api') as typeof DuckDB;

const DEFAULT_MEMORY_LIMIT = '128MB';
/** DuckDB's limit while only rows flow (duckdb.memory.ts); at 16MB ledger commits failed. */
const DEFAULT_STREAMING_LIMIT = '32MB';
/** DuckDB's own default checkpoint_threshold: herald checkpoints at it (see `checkpointIfDue`). */
const DEFAULT_CHECKPOINT_THRESHOLD = '16MB';
/** DuckDB's own threshold, out of reach: a commit never checkpoints by itself. */
const OUT_OF_REACH = '1TB';

export class DuckDbWarehouse implements Warehouse {
  readonly kind = 'duckdb' as const;
  /**
   * A commit costs ~9 ms of CPU however little it holds (begin, two appends, the settling UPDATE,
   * commit): at 1,000/s, a write every 15 ms took a core (1.1-1.2 CPU-s per 1,000 messages through
   * the CLI), one every 60 ms 0.7-0.8 (bench/cli-send).
   */
  readonly minBatchWindowMs = 60;
  private queue: Promise<unknown> = Promise.resolve();
  /** Held locks by name: one exclusive holder, or any number of shared ones. */
  private readonly locks = new Map<string, { exclusive: boolean; holders: number }>();
  private readonly staged = new Set<string>();
  private readonly memory: MemoryPhases;

  private constructor(
    private readonly instance: Instance,
    private readonly writer: DuckDBConnection,
    /** Where memory_limit changes run: beside the writer, so a ledger write never waits for one. */
    private readonly control: DuckDBConnection,
    readonly description: string,
    limits: { query: string; streaming: string | null },
    /** The write-ahead log's file (none in memory), and its size at which herald checkpoints. */
    private readonly wal: { path: string; checkpointAt: number } | null,
  ) {
    this.memory = new MemoryPhases(async (limit) => void (await this.control.run(`SET memory_limit = '${limit}'`)), limits.query, limits.streaming);
  }

  /**
   * `path` is a file name or `:memory:`; `settings` are DuckDB's (memory_limit, threads, …) plus
   * herald's streaming_memory_limit (duckdb.memory.ts). memory_limit defaults to 128MB, not
   * DuckDB's 80% of RAM: herald shares its process with a pipeline that must stay small, and
   * DuckDB spills to disk past the limit.
   */
  static async open(path: string, settings: Record<string, string> = {}): Promise<DuckDbWarehouse> {
    const { streaming_memory_limit: streaming = DEFAULT_STREAMING_LIMIT, checkpoint_threshold: checkpointAt = DEFAULT_CHECKPOINT_THRESHOLD, ...duckdbSettings } = settings;
    // Freed memory goes back to the OS on time, not only when the allocator is next busy.
    // No vacuum merges: each checkpoint of the ledger leaves a row group of the rows written since
    // the last one, and a vacuum merges the small ones by rewriting every column of up to 122,880
    // rows in memory, +70-100 MB RSS a merge in a real send (2M rows: 443 MB peak; issue 14).
    // The cost is row groups of ~45,000 sends instead of 122,880; `max_vacuum_tasks` in the URL
    // turns merging back on.
    const config = { memory_limit: DEFAULT_MEMORY_LIMIT, allocator_background_threads: 'true', max_vacuum_tasks: '0', ...duckdbSettings, checkpoint_threshold: OUT_OF_REACH };
    const limits = { query: config.memory_limit, streaming: streaming.trim().toLowerCase() === 'off' ? null : streamingLimit(config.memory_limit, streaming) };
    const wal = path === ':memory:' ? null : { path: `${path}.wal`, checkpointAt: sizeInBytes('checkpoint_threshold', checkpointAt) };
    let instance: Instance;
    try {
      instance = await DuckDBInstance.create(path, config);
    } catch (err) {
      const message = errorMessage(err);
      if (/lock/i.test(message)) {
        const pid = /PID (\d+)/.exec(message)?.[1];
        throw new WarehouseError(
          `${path} is in use by another process${pid ? ` (PID ${pid})` : ''}: DuckDB lets one process open the file at a time. ` +
          'While `herald serve` is up, trigger runs through it (POST /runs or schedules); for several processes, use PostgreSQL.', { cause: err });
      }
      throw new WarehouseError(`cannot open DuckDB warehouse ${path}: ${message}`, { cause: err });
    }
    const warehouse = new DuckDbWarehouse(instance, await instance.connect(), await instance.connect(), `duckdb:${path}`, limits, wal);
    const version = schemaVersion('duckdb');
    if (await storedSchemaVersion(async (sql) => (await warehouse.writer.runAndReadAll(sql)).getRowObjectsJS()) !== version) {
      await warehouse.inTransaction(async () => {
        for (const statement of [...migrationStatements('duckdb'), ...recordSchemaVersion('duckdb', version)]) await warehouse.writer.run(statement);
      });
    }
    return warehouse;
  }

  /**
   * Every stream reads from a spool (`spooled`), `detached` or not: a streamed result
   * (`connection.stream` then `fetchChunk`) ends as if complete when its query fails mid-way
   * (@duckdb/node-api 1.5 returns an empty chunk, and does not expose duckdb_result_error), so a
   * failing segment, count or ledger read would silently come back short. The spool's CREATE
   * TABLE … AS runs the whole query, and rejects with its error. So `detached` asks for nothing more.
   */
  async stream(sql: string, params: readonly SqlValue[], options: { columns?: readonly string[]; detached?: boolean } = {}): Promise<RowStream> {
    const phase = await this.memory.starting();
    let connection: DuckDBConnection | undefined;
    let source: ChunkSource;
    try {
      connection = await this.instance.connect();
      source = await spooled(connection, sql, params, options.columns);
    } catch (err) {
      connection?.closeSync();
      phase.close();
      throw err;
    }
    const { fields } = source;
    const names = fields.map((f) => f.name);
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        connection.closeSync(); // a spool is a temp table: it goes with its connection
        phase.close();
      }
    };
    async function* chunks(): AsyncGenerator<Row[]> {
      try {
        // The next chunk is fetched (on DuckDB's thread) while the caller works on this one.
        let next = source.next();
        for (;;) {
          const chunk = await next;
          phase.chunk();
          if (!chunk) return;
          next = source.next();
          // Column by column, only the wanted ones, into one object per row. rowCount is a call
          // into the native binding: read once per chunk, not once per row.
          const values = fields.map((f) => chunk.convertColumnValues(f.index, JSDuckDBValueConverter));
          const count = chunk.rowCount;
          const rows: Row[] = new Array<Row>(count);
          for (let r = 0; r < count; r++) {
            const row: Row = {};
            for (let c = 0; c < names.length; c++) row[names[c]!] = plain(values[c]![r]);
            rows[r] = row;
          }
          yield rows;
        }
      } finally {
        await close();
      }
    }
    return { columns: source.columns, chunks: chunks(), close };
  }

  describe(sql: string, params: readonly SqlValue[]): Promise<string[]> {
    return this.serial(() => resultColumns(this.writer, sql, params));
  }

  /** Computes under the full memory limit, like a streamed query: reports join and aggregate whole tables. */
  async query<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const phase = await this.memory.starting();
    try {
      return await this.serial(async () => {
        const [values, types] = bind(params);
        const reader = await this.writer.runAndReadAll(sql, values, types);
        await this.checkpointIfDue();
        return reader.getRowObjectsJS().map(toPlainRow) as T[];
      });
    } finally {
      phase.close();
    }
  }

  insert(table: TableSpec, rows: readonly Row[], options: { ignoreDuplicates?: boolean } = {}): Promise<void> {
    return this.write([{ insert: table, rows, ...options }]);
  }

  update(table: TableSpec, rows: readonly Row[], columns: readonly string[], options: { recentOn?: string } = {}): Promise<void> {
    return this.write([{ update: table, rows, columns, ...options }]);
  }

  write(ops: readonly WriteOp[]): Promise<void> {
    const statements = ops.filter((op) => op.rows.length > 0);
    if (statements.length === 0) return Promise.resolve();
    return this.serial(async () => {
      try {
        await this.writeAll(statements);
      } catch (err) {
        if (!/Out of Memory/i.test(errorMessage(err))) throw err;
        // Rolled back. A write at the streaming limit (the ledger's, while rows flow) may need
        // more, e.g. settling rows across many row groups of a large table: again at the full limit.
        const phase = await this.memory.starting();
        try {
          await this.writeAll(statements);
        } finally {
          phase.close();
        }
      }
      await this.checkpointIfDue();
    });
  }

  private async writeAll(statements: readonly WriteOp[]): Promise<void> {
    // A plain insert appends straight to the table: no transaction needed for one.
    if (statements.length === 1 && 'insert' in statements[0]! && !statements[0].ignoreDuplicates) {
      return this.append(`herald.${statements[0].insert.name}`, statements[0].insert.columns, statements[0].rows);
    }
    await this.inTransaction(async () => {
      for (const op of statements) await ('insert' in op ? this.insertRows(op) : this.updateRows(op));
    });
  }

  /**
   * Checkpoints once the write-ahead log has passed the threshold, under the full memory limit.
   * DuckDB would checkpoint inside the commit that crossed it, under the limit then in force: at
   * the streaming limit such a checkpoint could not pin a block, and DuckDB invalidated the
   * database (a 2M-row real send, issue 14). Raising the limit around every write instead cost a
   * third of a 1,000/s run's ledger CPU (~6 ms a write: DuckDB evicts down to the streaming limit
   * each time it is lowered), so writes stay at the limit in force and only this (or a write that
   * ran out of memory, once more) raises it.
   * Called on the writer's queue, so no write of ours runs meanwhile.
   */
  private async checkpointIfDue(): Promise<void> {
    if (this.wal && walBytes(this.wal.path) >= this.wal.checkpointAt) await this.checkpoint();
  }

  private async checkpoint(): Promise<void> {
    const phase = await this.memory.starting();
    try {
      await this.writer.run('CHECKPOINT');
    } finally {
      phase.close();
    }
  }

  private async insertRows(op: Extract<WriteOp, { insert: TableSpec }>): Promise<void> {
    const { insert: table, rows } = op;
    if (!op.ignoreDuplicates) return this.append(`herald.${table.name}`, table.columns, rows);
    const stage = await this.stage(table);
    await this.append(stage, table.columns, rows);
    await this.writer.run(
      `INSERT INTO herald.${table.name} SELECT DISTINCT ON (s.${table.key}) s.* FROM ${stage} s ` +
      `WHERE NOT EXISTS (SELECT 1 FROM herald.${table.name} t WHERE t.${table.key} = s.${table.key})`);
    await this.writer.run(`DELETE FROM ${stage}`);
  }

  private async updateRows(op: Extract<WriteOp, { update: TableSpec }>): Promise<void> {
    const { update: table, columns, recentOn } = op;
    const rows = lastPerKey(op.rows, table.key);
    const stage = await this.stage(table);
    await this.append(stage, table.columns, rows);
    const set = columns.map((c) => `${c} = s.${c}`).join(', ');
    const recent = recentOn ? oldest(rows, recentOn) : null;
    const [values, types] = bind(recent ? [recent] : []);
    const result = await this.writer.run(`UPDATE herald.${table.name} AS t SET ${set} FROM ${stage} s WHERE t.${table.key} = s.${table.key}` +
      (recent ? ` AND t.${recentOn} >= $1` : ''), values, types);
    await this.writer.run(`DELETE FROM ${stage}`);
    if (result.rowsChanged !== rows.length) throw mismatch(table, rows.length, result.rowsChanged);
  }

  /** DuckDB's memory_limit in force (as DuckDB prints it), read without raising it as query() would. */
  async memoryLimit(): Promise<string> {
    await this.memory.idle();
    const reader = await this.control.runAndReadAll("SELECT current_setting('memory_limit') AS v");
    return String(reader.getRows()[0]?.[0]);
  }

  async tryLock(name: string, options: LockOptions = {}): Promise<HeldLock | null> {
    const held = this.locks.get(name);
    const shared = options.shared ?? false;
    if (held && (!shared || held.exclusive)) return null;
    if (held) held.holders++;
    else this.locks.set(name, { exclusive: !shared, holders: 1 });
    let released = false;
    return {
      lost: new AbortController().signal, // an in-process lock goes only with the process
      release: async () => {
        if (released) return;
        released = true;
        const now = this.locks.get(name);
        if (now && --now.holders === 0) this.locks.delete(name);
      },
    };
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    // DuckDB checkpoints what the log holds as it closes: do it here, under the full limit.
    if (this.wal && walBytes(this.wal.path) > 0) await this.serial(() => this.checkpoint()).catch(() => undefined);
    await this.memory.idle();
    this.control.closeSync();
    this.writer.closeSync();
    this.instance.closeSync();
  }

  /** One statement at a time on the writer connection, in call order. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async inTransaction(work: () => Promise<void>): Promise<void> {
    await this.writer.run('BEGIN TRANSACTION');
    try {
      await work();
      await this.writer.run('COMMIT');
    } catch (err) {
      await this.writer.run('ROLLBACK').catch(() => undefined);
      this.staged.clear(); // a staging table created inside the transaction went with it
      throw err;
    }
  }

  private async stage(table: TableSpec): Promise<string> {
    const name = `herald_stage_${table.name}`;
    if (!this.staged.has(name)) {
      await this.writer.run(`CREATE TEMP TABLE IF NOT EXISTS ${name} AS SELECT * FROM herald.${table.name} LIMIT 0`);
      this.staged.add(name);
    }
    return name;
  }

  private async append(qualified: string, columns: readonly ColumnSpec[], rows: readonly Row[]): Promise<void> {
    const [schema, table] = qualified.includes('.') ? qualified.split('.') as [string, string] : [undefined, qualified];
    const appender = await this.writer.createAppender(table, schema);
    const timestamps = new TimestampCache();
    try {
      for (const row of rows) {
        for (const column of columns) appendValue(appender, column, row[column.name], timestamps);
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }
}

/** Where a stream's chunks come from, and which of their columns become row fields. */
interface ChunkSource {
  /** Every column of the query's result, as DuckDB names them (duplicates deduplicated). */
  columns: string[];
  /** A row field's name and the index of its column in each chunk. */
  fields: { name: string; index: number }[];
  /** The next non-empty chunk, or null after the last. */
  next(): Promise<DuckDBDataChunk | null>;
}

/** Rows per page of a spool: four vectors per short read. */
const SPOOL_PAGE_ROWS = 8192;

/**
 * The query's wanted columns copied into a temp table (its spool), then read in pages by rowid,
 * each page its own short transaction. The copy runs the query to its end, so its error (if any)
 * rejects the stream before the first row. A query held open for a whole run pins every row version
 * the run's ledger writes create: DuckDB cannot clean them up while an older transaction lives,
 * and settlements slowed from 4 s to 178 s per 1,000 (BENCHMARKS.md). The copy is one pass in
 * DuckDB (0.3 s per million rows of seven columns on the 2-core bench VM) and spills to the temp directory past the memory limit; a
 * temp table lives in the connection's own catalog, so reading it holds nothing in the file's.
 */
async function spooled(connection: DuckDBConnection, sql: string, params: readonly SqlValue[], wanted?: readonly string[]): Promise<ChunkSource> {
  const [values, types] = bind(params);
  const query = stripTrailingSemicolon(sql);
  const columns = await resultColumns(connection, sql, params);
  const fields = pick(columns, wanted);
  // By position: a duplicated column name would be ambiguous by name.
  const list = fields.length > 0 ? fields.map((f) => `#${f.index + 1} AS ${quoteIdentifier(f.name)}`).join(', ') : 'NULL AS herald_nothing';
  const created = await connection.runAndReadAll(`CREATE TEMP TABLE herald_spool AS SELECT ${list} FROM (\n${query}\n) AS herald_segment`, values, types);
  const rowCount = Number(created.getRows()[0]?.[0] ?? 0);
  let from = 0;
  let page: DuckDBDataChunk[] = [];
  return {
    columns,
    fields: fields.map((f, index) => ({ name: f.name, index })),
    next: async () => {
      while (page.length === 0) {
        if (from >= rowCount) return null;
        const result = await connection.run(`SELECT * FROM herald_spool WHERE rowid >= ${from} AND rowid < ${from + SPOOL_PAGE_ROWS}`);
        from += SPOOL_PAGE_ROWS;
        page = Array.from({ length: result.chunkCount }, (_, i) => result.getChunk(i)).filter((c) => c.rowCount > 0);
      }
      return page.shift()!;
    },
  };
}

/**
 * A query's column names, as `herald check` reports them, from a LIMIT 0 plan: nothing is
 * computed. Planned with its parameters bound: a table function's columns (read_csv(:file))
 * depend on them.
 */
async function resultColumns(connection: DuckDBConnection, sql: string, params: readonly SqlValue[]): Promise<string[]> {
  const [values, types] = bind(params);
  const reader = await connection.runAndReadAll(`SELECT * FROM (\n${stripTrailingSemicolon(sql)}\n) AS herald_columns LIMIT 0`, values, types);
  return reader.deduplicatedColumnNames();
}

function pick(columns: readonly string[], wanted?: readonly string[]): { name: string; index: number }[] {
  const keep = wanted ? new Set(wanted) : null;
  return columns.map((name, index) => ({ name, index })).filter((c) => !keep || keep.has(c.name));
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A batch's rows mostly share their timestamps (created_at): one DuckDB value per distinct instant. */
class TimestampCache {
  private ms = NaN;
  private value: TimestampTZValue | null = null;

  get(value: Date | string): TimestampTZValue {
    const ms = (value instanceof Date ? value : new Date(value)).getTime();
    if (ms !== this.ms || !this.value) [this.ms, this.value] = [ms, timestampTz(ms)];
    return this.value;
  }
}

/** The streaming limit, or null when it would not be below the query limit (or either is unreadable). */
function streamingLimit(queryLimit: string, streaming: string): string | null {
  const below = sizeInBytes('streaming_memory_limit', streaming);
  let query: number;
  try {
    query = sizeInBytes('memory_limit', queryLimit);
  } catch {
    return null; // a form DuckDB reads and herald does not: leave DuckDB's limit alone
  }
  return below < query ? streaming : null;
}

/** The write-ahead log's size; 0 when there is none (nothing written since the last checkpoint). */
function walBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function oldest(rows: readonly Row[], column: string): Date | null {
  let min: number | null = null;
  for (const row of rows) {
    const v = row[column];
    if (v === null || v === undefined) return null; // a row without the column: no bound is safe
    const t = new Date(v as Date | string).getTime();
    if (min === null || t < min) min = t;
  }
  return min === null ? null : new Date(min);
}

function appendValue(appender: DuckDBAppender, column: ColumnSpec, value: unknown, timestamps: TimestampCache): void {
  if (value === null || value === undefined) return appender.appendNull();
  switch (column.type) {
    case 'text': return appender.appendVarchar(String(value));
    case 'integer': return appender.appendBigInt(BigInt(Math.trunc(Number(value))));
    case 'boolean': return appender.appendBoolean(Boolean(value));
    case 'timestamptz': return appender.appendTimestampTZ(timestamps.get(value as Date | string));
    case 'json': return appender.appendVarchar(typeof value === 'string' ? value : JSON.stringify(value));
  }
}

function timestampTz(value: Date | string | number): TimestampTZValue {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : new Date(value).getTime();
  return new DuckDBTimestampTZValue(BigInt(ms) * 1000n);
}

/** Values and their DuckDB types; DuckDB cannot infer a type for null or an empty list. */
function bind(params: readonly SqlValue[]): [DuckDBValue[], DuckDBType[]] {
  const values: DuckDBValue[] = [];
  const types: DuckDBType[] = [];
  for (const p of params) {
    if (p === null) { values.push(null); types.push(VARCHAR); }
    else if (typeof p === 'string') { values.push(p); types.push(VARCHAR); }
    else if (typeof p === 'number') { values.push(p); types.push(DOUBLE); }
    else if (typeof p === 'boolean') { values.push(p); types.push(BOOLEAN); }
    else if (p instanceof Date) { values.push(timestampTz(p)); types.push(TIMESTAMPTZ); }
    else { values.push(listValue([...p])); types.push(LIST(VARCHAR)); }
  }
  return [values, types];
}

/** BIGINT and HUGEINT come back as bigint: numbers when safe, strings otherwise. */
function plain(v: unknown): unknown {
  if (typeof v !== 'bigint') return v;
  return v >= Number.MIN_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : v.toString();
}

function toPlainRow(row: Record<string, unknown>): Row {
  for (const key in row) row[key] = plain(row[key]);
  return row;
}
