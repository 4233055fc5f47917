/**
 * The rate card (data/rate-cards/README.md): price per message by provider, recipient country and
 * pricing category, with the date each price took effect. Read from a CSV file, checked row by row
 * (a typo in a category would otherwise price nothing, silently), and mirrored into
 * `herald.rate_card`, which the view `herald.send_costs` joins.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { ConfigError, errorMessage, type Problem } from '../errors.js';
import type { RuntimeConfig } from '../config/runtime.schema.js';
import { RATE_CARD } from '../warehouse/tables.js';
import type { Warehouse, WriteOp } from '../warehouse/warehouse.js';

/** Meta's `pricing.category` values that have a price (docs/providers/meta-2026.md §4). */
export const RATE_CATEGORIES = ['marketing', 'utility', 'authentication', 'authentication_international', 'service'] as const;
export type RateCategory = (typeof RATE_CATEGORIES)[number];

/** The country of the rows that apply wherever a country has none of its own. */
export const ANY_COUNTRY = '*';

export interface Rate {
  provider: string;
  country: string;
  category: RateCategory;
  currency: string;
  /** The decimal as written (at most 6 places): exact, never a float. */
  price: string;
  /** YYYY-MM-DD, from 00:00 UTC. */
  effective_from: string;
  source: string;
  /** 1-based line in the file. */
  line: number;
}

const COLUMNS = ['provider', 'country', 'category', 'currency', 'price', 'effective_from', 'source'] as const;

/**
 * The rate card shipped with herald. Found from this module upwards (src/cost from the sources,
 * dist/src/cost once built), so it works from a checkout, an npm install and the container alike.
 */
export function shippedRateCard(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'data', 'rate-cards', 'meta.csv');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error('herald\'s rate card data/rate-cards/meta.csv is missing from this installation');
    dir = up;
  }
}

/** The configured rate card (relative to the working directory), else the shipped one. */
export function rateCardFile(config: RuntimeConfig): string {
  return config.costs.rate_card === undefined ? shippedRateCard() : resolve(config.costs.rate_card);
}

/** Every row of the file, checked; ConfigError naming the file, line and column of each problem. */
export function readRateCard(file: string): Rate[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw ConfigError.of(file, '', `cannot read the rate card: ${errorMessage(err)}`, 'set costs.rate_card in config/herald.yaml to an existing file');
  }
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, { columns: true, comment: '#', skip_empty_lines: true, trim: true, info: true }) as typeof records;
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new ConfigError([{ file, path: '', message: `not a readable CSV: ${errorMessage(err)}`, ...(line ? { line } : {}) }]);
  }
  const problems: Problem[] = [];
  const header = records[0] ? Object.keys(records[0].record) : [];
  const missing = COLUMNS.filter((c) => !header.includes(c));
  if (records.length === 0) problems.push({ file, path: '', message: 'the rate card has no rows', hint: `header: ${COLUMNS.join(',')}` });
  else if (missing.length > 0) problems.push({ file, path: '', message: `the header lacks ${missing.join(', ')}`, hint: `header: ${COLUMNS.join(',')}` });
  if (problems.length > 0) throw new ConfigError(problems);

  const rates: Rate[] = [];
  const seen = new Map<string, number>();
  for (const { record, info } of records) {
    const line = info.lines;
    const bad = (column: string, message: string, hint?: string) => problems.push({ file, line, path: column, message, ...(hint ? { hint } : {}) });
    const r = record as Record<(typeof COLUMNS)[number], string>;
    const before = problems.length;
    if (!/^[a-z][a-z0-9_]*$/.test(r.provider)) bad('provider', `"${r.provider}" is not a provider name`, 'meta, infobip, ada or sandbox');
    if (r.country !== ANY_COUNTRY && !/^[A-Z]{2}$/.test(r.country)) bad('country', `"${r.country}" is not a two-letter region`, 'such as US or JP, or * for every other country');
    if (!(RATE_CATEGORIES as readonly string[]).includes(r.category)) bad('category', `unknown category "${r.category}"`, RATE_CATEGORIES.join(', '));
    if (!/^[A-Z]{3}$/.test(r.currency)) bad('currency', `"${r.currency}" is not a currency code`, 'such as USD');
    if (!/^\d+(\.\d{1,6})?$/.test(r.price)) bad('price', `"${r.price}" is not a price`, 'a decimal with at most 6 places, such as 0.0275');
    if (!isDate(r.effective_from)) bad('effective_from', `"${r.effective_from}" is not a date`, 'YYYY-MM-DD');
    if (r.source === '') bad('source', 'no source', 'say where the figure came from, and when');
    if (problems.length > before) continue;
    const key = rateId(r);
    const first = seen.get(key);
    if (first !== undefined) {
      bad('effective_from', `a second price for ${r.provider} ${r.country} ${r.category} from ${r.effective_from} (the first is on line ${first})`);
      continue;
    }
    seen.set(key, line);
    rates.push({ ...r, category: r.category as RateCategory, line });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return rates;
}

function isDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const day = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(day.getTime()) && day.toISOString().startsWith(text); // 2025-02-30 is not a day
}

/** One price per (provider, country, category, date): the table's key. */
export function rateId(r: { provider: string; country: string; category: string; effective_from: string }): string {
  return [r.provider, r.country, r.category, r.effective_from].join('|');
}

/**
 * The price in effect at `at`: the latest row from on or before then, of the country, else of `*`.
 * Null when the card has none (the provider or category is not on it, or `at` is before its first date).
 */
export function rateAt(rates: readonly Rate[], provider: string, country: string | null, category: string, at: Date): Rate | null {
  const day = at.toISOString().slice(0, 10);
  const latest = (c: string) => rates
    .filter((r) => r.provider === provider && r.country === c && r.category === category && r.effective_from <= day)
    .reduce<Rate | null>((best, r) => (best === null || r.effective_from > best.effective_from ? r : best), null);
  return (country ? latest(country) : null) ?? latest(ANY_COUNTRY);
}

interface StoredRate { rate_id: string; currency: string; price: string; source: string }

/**
 * Makes `herald.rate_card` hold exactly the file's rows. Nothing is written when it already does
 * (the usual case: every run and report calls this); otherwise new and changed rows go in one
 * atomic write, then rows the file no longer has are removed. Returns the file's rates.
 */
export async function syncRateCard(wh: Warehouse, file: string): Promise<Rate[]> {
  const rates = readRateCard(file);
  const stored = new Map((await wh.query<StoredRate>('SELECT rate_id, currency, price, source FROM herald.rate_card'))
    .map((r) => [r.rate_id, r]));
  const rows = rates.map((r) => ({
    rate_id: rateId(r), provider: r.provider, country: r.country, category: r.category, currency: r.currency,
    price: r.price, effective_from: new Date(`${r.effective_from}T00:00:00Z`), source: r.source,
  }));
  const added = rows.filter((r) => !stored.has(r.rate_id));
  const changed = rows.filter((r) => {
    const s = stored.get(r.rate_id);
    return s !== undefined && (s.currency !== r.currency || s.price !== r.price || s.source !== r.source);
  });
  // One write's statements do not see each other's rows (PostgreSQL runs them as one), so new
  // rows are inserted and changed ones updated, never both. ignoreDuplicates: another process
  // loading the same file at the same moment.
  const ops: WriteOp[] = [];
  if (added.length > 0) ops.push({ insert: RATE_CARD, rows: added, ignoreDuplicates: true });
  if (changed.length > 0) ops.push({ update: RATE_CARD, rows: changed, columns: ['currency', 'price', 'source'] });
  if (ops.length > 0) await wh.write(ops);
  const keep = new Set(rows.map((r) => r.rate_id));
  const gone = [...stored.keys()].filter((id) => !keep.has(id));
  if (gone.length > 0) await wh.query('DELETE FROM herald.rate_card WHERE rate_id IN (SELECT unnest($1::text[]))', [gone]);
  return rates;
}
