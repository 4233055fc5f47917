/**
 * Segment: runs the job's SQL with its named parameters bound (never spliced) and streams the
 * rows in chunks, so the first send does not wait for the last row.
 */
import { ConfigError, errorMessage } from '../errors.js';
import type { LoadedJob } from '../config/load.js';
import { stripTrailingSemicolon } from '../warehouse/migrate.js';
import { locateSqlError } from './sql-error-location.js';
import { bindNamedParams, MissingParameterError } from '../warehouse/named-params.js';
import type { Row, RowStream, SqlValue, Warehouse } from '../warehouse/warehouse.js';

export type SegmentParams = Readonly<Record<string, SqlValue>>;

/**
 * Starts the query and checks that every column the job names is in its result. `sending`: the
 * run will settle the ledger rows it writes while it reads, so the read must not hold the query
 * open (Warehouse.stream `detached`); a dry run only inserts. (DuckDB spools every stream, so
 * that a query failing mid-way rejects instead of ending short; PostgreSQL streams either way.)
 */
export async function openSegment(wh: Warehouse, loaded: LoadedJob, o: { overrides?: SegmentParams; sending: boolean }): Promise<RowStream> {
  const { sql, params } = bindSegmentSql(loaded, o.overrides);
  let stream: RowStream;
  try {
    stream = await wh.stream(sql, params, { columns: [...new Set(referencedColumns(loaded).map((r) => r.column))], detached: o.sending });
  } catch (err) {
    throw sqlError(loaded, err);
  }
  const missing = missingColumns(loaded, stream.columns);
  if (missing.length > 0) {
    await stream.close();
    throw missingColumnsError(loaded, missing, stream.columns);
  }
  return stream;
}

/** How many rows the segment has, read on a connection of its own. */
export async function countSegment(wh: Warehouse, loaded: LoadedJob, overrides: SegmentParams = {}): Promise<number> {
  const { sql, params } = bindSegmentSql(loaded, overrides);
  const stream = await wh.stream(`SELECT count(*) AS n FROM (\n${stripTrailingSemicolon(sql)}\n) AS herald_count`, params);
  try {
    for await (const rows of stream.chunks) return Number(rows[0]?.n ?? 0);
    return 0;
  } finally {
    await stream.close();
  }
}

/** Yields at most `limit` rows, in the chunks the warehouse delivers. */
export async function* segmentRows(stream: RowStream, limit?: number): AsyncGenerator<Row[]> {
  let left = limit ?? Infinity;
  try {
    for await (const chunk of stream.chunks) {
      if (left <= 0) return;
      const rows = chunk.length > left ? chunk.slice(0, left) : chunk;
      left -= rows.length;
      yield rows;
    }
  } finally {
    await stream.close();
  }
}

export function bindSegmentSql(loaded: LoadedJob, overrides: SegmentParams = {}): { sql: string; params: SqlValue[] } {
  try {
    return bindNamedParams(loaded.sql, { ...loaded.job.source.params, ...overrides });
  } catch (err) {
    if (err instanceof MissingParameterError) {
      throw ConfigError.of(loaded.file, 'source.params', `${err.message} (in ${loaded.sqlOrigin})`, `add ${err.missing.map((m) => `${m}: …`).join(', ')} under source.params`);
    }
    throw err;
  }
}

/** Every column the job reads from a row. */
export function referencedColumns(loaded: LoadedJob): { path: string; column: string }[] {
  const { audience, message } = loaded.job;
  const refs = [
    { path: 'audience.key', column: audience.key },
    { path: 'audience.consent', column: audience.consent },
  ];
  if (audience.phone) refs.push({ path: 'audience.phone', column: audience.phone });
  if (audience.user_id) refs.push({ path: 'audience.user_id', column: audience.user_id });
  message.body.forEach((p, i) => p.column && refs.push({ path: `message.body.${i}.column`, column: p.column }));
  if (message.text?.column) refs.push({ path: 'message.text.column', column: message.text.column });
  const zone = loaded.job.delivery.recipient_timezone;
  if (zone) refs.push({ path: 'delivery.recipient_timezone', column: zone });
  if (message.header) {
    for (const [kind, source] of Object.entries(message.header)) {
      if (source.column) refs.push({ path: `message.header.${kind}.column`, column: source.column });
    }
  }
  message.buttons.forEach((b, i) => {
    const source = b.url_suffix ?? b.quick_reply_payload;
    const field = b.url_suffix ? 'url_suffix' : 'quick_reply_payload';
    if (source?.column) refs.push({ path: `message.buttons.${i}.${field}.column`, column: source.column });
  });
  return refs;
}

export function missingColumns(loaded: LoadedJob, columns: readonly string[]): { path: string; column: string }[] {
  const present = new Set(columns);
  return referencedColumns(loaded).filter((r) => !present.has(r.column));
}

export function missingColumnsError(loaded: LoadedJob, missing: { path: string; column: string }[], columns: readonly string[]): ConfigError {
  return new ConfigError(missing.map((m) => ({
    file: loaded.file,
    path: m.path,
    message: `column "${m.column}" is not in the result of ${loaded.sqlOrigin}`,
    hint: `the query returns: ${columns.join(', ')}`,
  })));
}

/**
 * A segment SQL error as a problem of the job: the engine's message, and where it points (LINE n
 * and a caret, in the segment's own lines) when the engine says so.
 */
export function sqlError(loaded: LoadedJob, err: unknown): ConfigError {
  const field = loaded.job.source.query !== undefined ? 'source.query' : 'source.sql';
  const where = field === 'source.sql' ? ` in ${loaded.sqlOrigin}` : '';
  const text = errorMessage(err);
  // The message's own lines (DuckDB's "Did you mean …?"), without its LINE/caret: located below.
  const lines = text.split('\n');
  const cut = lines.findIndex((l) => /^LINE \d+: /.test(l));
  const said = (cut >= 0 ? lines.slice(0, cut) : lines).filter((l) => l.trim() !== '').join('\n');
  let bound: string;
  try {
    bound = stripTrailingSemicolon(bindSegmentSql(loaded).sql);
  } catch {
    bound = loaded.sql;
  }
  const hint = typeof err === 'object' && err !== null ? (err as { hint?: unknown }).hint : undefined; // PostgreSQL's HINT, as psql prints it
  const located = locateSqlError(bound, err, text);
  const message = `SQL error${where}: ${said}${typeof hint === 'string' ? `\nHINT: ${hint}` : ''}${located ? `\n${located}` : ''}`;
  return ConfigError.of(loaded.file, field, message, located ? undefined : 'run the query in the warehouse to see the full error');
}
