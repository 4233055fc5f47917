/**
 * What a provider hears when a request's events could not be written (DESIGN "HTTP"): 400 when
 * their content can never be stored, so the provider stops retrying it; 503 when the warehouse is
 * (or may be) the problem, so it retries. The group commit has already written this request on its
 * own, so the failure is this request's.
 */
import { errorMessage } from '../errors.js';
import { UnstorableEvent } from '../events/storable.js';
import { isConnectionLoss } from '../warehouse/warehouse.js';
import type { WarehouseProbe } from './warehouse-probe.js';

export interface WriteFailure {
  status: 400 | 503;
  reason: string;
}

export async function writeFailure(err: unknown, probe: WarehouseProbe): Promise<WriteFailure> {
  const reason = errorMessage(err);
  if (isContentError(err)) return { status: 400, reason };
  if (isStorageError(err)) return { status: 503, reason };
  // Neither a database's word nor a connection's (a JS error on this content): the warehouse decides.
  const down = await probe();
  return down === null ? { status: 400, reason } : { status: 503, reason: down };
}

// PostgreSQL SQLSTATE classes about the values given: 22 data exception, 23 integrity
// constraint, 54 program limit (a value too deep or too large). DuckDB says it in the message.
const PG_CONTENT_CLASSES = /^(22|23|54)/;
const DUCKDB_CONTENT = /^(Conversion|Invalid Input|Constraint|Out of Range) Error/;
const DUCKDB_ERROR = /^[A-Z][A-Za-z]*( [A-Z][A-Za-z]*)* Error: /;

function isContentError(err: unknown): boolean {
  if (err instanceof UnstorableEvent) return true;
  const state = sqlState(err);
  return state !== null ? PG_CONTENT_CLASSES.test(state) : DUCKDB_CONTENT.test(errorMessage(err));
}

/** Any other database error (schema, locks, shutdown, disk) or a broken connection: not the content's fault. */
function isStorageError(err: unknown): boolean {
  return sqlState(err) !== null || DUCKDB_ERROR.test(errorMessage(err)) || isConnectionLoss(err);
}

function sqlState(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}
