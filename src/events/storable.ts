/**
 * Events as rows both engines accept, whatever the provider sent (issue 10, "Webhooks isolate
 * poison"): each column coerced to its type from the table's own description, so a new column is
 * covered the day it is added. Measured before this existed: a body that was a JSON string, an id
 * with NUL, a number where text was expected each failed their whole batch on PostgreSQL.
 */
import { EVENTS, type ColumnType } from '../warehouse/tables.js';
import type { ProviderEvent } from './event.js';

/** An event that cannot be stored however it is coerced: its request gets 400, the provider stops retrying. */
export class UnstorableEvent extends Error {
  override readonly name = 'UnstorableEvent';
}

/** A row of `herald.events` as written: text is text, times are valid or null, the payload is JSON text. */
export type EventRow = Omit<ProviderEvent, 'payload'> & { payload: string | null };

/**
 * Deeper than any provider's JSON by far; PostgreSQL's json parser runs out of stack between 5,000
 * and 50,000 levels and V8's JSON.stringify near 8,000, so the limit is herald's, the same on both engines.
 */
export const MAX_PAYLOAD_DEPTH = 1000;

// Years 1..9999: every engine stores them (PostgreSQL refuses years before 4713 BC, which a JS Date allows).
const MIN_TIME = Date.parse('0001-01-01T00:00:00Z');
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

export function storableEvent(e: ProviderEvent): EventRow {
  const row: Record<string, unknown> = {};
  for (const c of EVENTS.columns) {
    const value = coerce(c.type, (e as unknown as Record<string, unknown>)[c.name]);
    if (value === null && c.notNull) throw new UnstorableEvent(`event ${String(e.event_id)} has no ${c.name}`);
    row[c.name] = value;
  }
  return row as EventRow;
}

function coerce(type: ColumnType, v: unknown): unknown {
  switch (type) {
    case 'timestamptz': return time(v);
    case 'json': return v === undefined ? null : json(v);
    case 'text': return text(v);
    case 'boolean': return typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : null;
    default: throw new Error(`herald.events has a ${type} column: storableEvent needs a rule for it`);
  }
}

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return cleanString(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return JSON.stringify(clean(v, 0)) ?? null;
}

/**
 * JSON text of a value, NUL and lone surrogates cleaned. Most payloads need no cleaning, and the
 * native JSON.stringify says so: it writes NUL and lone surrogates as `\u` escapes, so text without
 * any is clean; text this short holds no array or object deeper than the limit (each level costs
 * two characters). Anything else takes the walk, which copies the value.
 */
function json(v: unknown): string | null {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined; // a bigint or a value too deep: the walk decides
  }
  if (s !== undefined && s.length <= 2 * MAX_PAYLOAD_DEPTH && !s.includes('\\u')) return s;
  return JSON.stringify(clean(v, 0)) ?? null;
}

function time(v: unknown): Date | null {
  const d = v instanceof Date ? v : typeof v === 'string' || typeof v === 'number' ? new Date(v) : null;
  const t = d?.getTime() ?? Number.NaN;
  return t >= MIN_TIME && t <= MAX_TIME ? d : null;
}

/** NUL removed (no PostgreSQL text holds it) and lone surrogates replaced, in keys and values at every depth. */
function clean(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return cleanString(v);
  if (typeof v === 'bigint') return String(v);
  if (typeof v !== 'object' || v === null) return v;
  if (depth >= MAX_PAYLOAD_DEPTH) throw new UnstorableEvent(`payload nested deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  if (Array.isArray(v)) return v.map((x) => clean(x, depth + 1));
  if (v instanceof Date) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[cleanString(k)] = clean(x, depth + 1);
  return out;
}

const LONE_SURROGATE = /\p{Surrogate}/u;
function cleanString(s: string): string {
  const noNul = s.includes('\u0000') ? s.replaceAll('\u0000', '') : s;
  return LONE_SURROGATE.test(noNul) ? noNul.replace(/\p{Surrogate}/gu, '\uFFFD') : noNul;
}
