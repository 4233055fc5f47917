/**
 * Shared bench helpers: a synthetic segment built inside DuckDB, the demo-shaped job over it,
 * a stub provider, medians, and results written to os.tmpdir() (never into the repo).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { LoadedJob } from '../src/config/load.js';
import { JobSchema } from '../src/config/job.schema.js';
import type { RateLimiter } from '../src/dispatch/limiter.js';
import { SenderRegistry, type RunPacing } from '../src/dispatch/senders.js';
import { metaRequestBody } from '../src/providers/meta/meta.payload.js';
import type { OutboundMessage, Provider, SendOutcome } from '../src/providers/provider.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { PostgresWarehouse } from '../src/warehouse/postgres.warehouse.js';

export interface BenchResult {
  name: string;
  unit: string;
  /** `>=` a floor (throughput) or `<=` a ceiling (latency, memory). */
  target: { op: '>=' | '<='; value: number };
  runs: number[];
  median: number;
  met: boolean;
  baseline?: { name: string; runs: number[]; median: number };
  /** median / baseline median. */
  ratio?: number;
  notes?: Record<string, unknown>;
}

export const SEGMENT_TABLE = 'bench_segment';
export const SEGMENT_SQL = `SELECT customer_id, phone, first_name, points, expires_on, coupon_path, whatsapp_opt_in FROM ${SEGMENT_TABLE}`;

/**
 * `rows` rows, every phone distinct: 80% JP mobiles in five formats (0901…, +81 90 …, 090-…,
 * 8190…, 080…), 10% bad (a third each: garbage, Tokyo landline, too short); consent false on 1/13.
 */
export function segmentDdl(rows: number): string {
  return `CREATE OR REPLACE TABLE ${SEGMENT_TABLE} AS
SELECT
  'c' || lpad(i::VARCHAR, 8, '0') AS customer_id,
  CASE i % 10
    WHEN 5 THEN '+81 90 ' || substr(n, 1, 4) || ' ' || substr(n, 5, 4)
    WHEN 6 THEN '090-' || substr(n, 1, 4) || '-' || substr(n, 5, 4)
    WHEN 7 THEN '8190' || n
    WHEN 8 THEN '080' || n
    WHEN 9 THEN CASE i % 30 WHEN 9 THEN 'n/a' WHEN 19 THEN '03-' || substr(n, 1, 4) || '-' || substr(n, 5, 4) ELSE '12345' END
    ELSE '090' || n
  END AS phone,
  list_element(['Haruto', 'Yui', '陽翔', 'さくら', 'Budi', 'Ken 🎉'], (i % 6 + 1)::INTEGER) AS first_name,
  ((i * 7919) % 20000)::INTEGER AS points,
  DATE '2027-01-01' + (i % 300)::INTEGER AS expires_on,
  'c/' || lpad((i % 1000000)::VARCHAR, 6, '0') AS coupon_path,
  CASE WHEN i % 13 = 0 THEN 'false' ELSE 'true' END AS whatsapp_opt_in
FROM (SELECT range AS i, (10000000 + range)::VARCHAR AS n FROM range(${Math.trunc(rows)}))`;
}

/** A fresh DuckDB file under `dir` holding herald's tables and a `rows`-row segment. */
export async function createSegmentDb(dir: string, rows: number, file = 'segment.duckdb'): Promise<string> {
  const path = join(dir, file);
  const wh = await DuckDbWarehouse.open(path);
  try {
    await wh.query(segmentDdl(rows));
    await wh.query('CHECKPOINT');
  } finally {
    await wh.close();
  }
  return path;
}

/** The demo job's shape (jobs/demo.yaml) over the bench segment. */
export function benchJob(name: string, ratePerSecond = 1000): LoadedJob {
  const job = JobSchema.parse({
    name,
    timezone: 'Asia/Tokyo',
    source: { query: SEGMENT_SQL },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'JP', consent: 'whatsapp_opt_in' },
    message: {
      provider: 'sandbox',
      sender: '15550001234',
      template: { name: 'welcome_back', language: 'ja' },
      body: [{ column: 'first_name' }, { column: 'points', type: 'number' }, { column: 'expires_on', type: 'date' }],
      buttons: [{ index: 0, url_suffix: { column: 'coupon_path' } }],
    },
    delivery: { rate_per_second: ratePerSecond, dedupe: 'job' },
  });
  return { job, file: 'bench', sql: SEGMENT_SQL, sqlOrigin: 'bench source.query' };
}

/** Accepts every message at once; remembers when the first call came and how many came. */
export class StubProvider implements Provider {
  readonly name = 'sandbox' as const;
  readonly defaultRatePerSecond = 1000;
  firstSendAt: number | null = null;
  sends = 0;

  constructor(private readonly onSend: (count: number) => void = () => undefined) {}

  async send(message: OutboundMessage): Promise<SendOutcome> {
    this.firstSendAt ??= performance.now();
    this.onSend(++this.sends);
    return { kind: 'accepted', providerMessageId: `stub.${message.sendId}` };
  }

  async close(): Promise<void> {}
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function result(r: Omit<BenchResult, 'median' | 'met' | 'ratio' | 'baseline'> & { baseline?: { name: string; runs: number[] } }): BenchResult {
  const m = median(r.runs);
  const met = r.target.op === '>=' ? m >= r.target.value : m <= r.target.value;
  const { baseline: base, ...rest } = r;
  const baseline = base ? { ...base, median: median(base.runs) } : undefined;
  return { ...rest, median: m, met, ...(baseline ? { baseline, ratio: m / baseline.median } : {}) };
}

/** The PostgreSQL server the benches use; `off` skips their PostgreSQL parts. */
export const BENCH_PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

class PostgresUnreachable extends Error {}

/** Runs `work` on the URL of a fresh database of BENCH_PG_URL's server, dropped afterwards. */
export async function withFreshDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const database = `herald_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: BENCH_PG_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new PostgresUnreachable(`PostgreSQL not reachable at ${BENCH_PG_URL} (${(err as Error).message})`, { cause: err });
  }
  try {
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(BENCH_PG_URL);
    url.pathname = `/${database}`;
    return await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}

/** `fn` on a PostgresWarehouse over a fresh database; null (with a line on stderr) when the server cannot be reached. */
export async function withFreshPostgres<T>(fn: (wh: PostgresWarehouse) => Promise<T>): Promise<T | null> {
  try {
    return await withFreshDatabase(async (url) => {
      const wh = await PostgresWarehouse.open(url);
      try {
        return await fn(wh);
      } finally {
        await wh.close();
      }
    });
  } catch (err) {
    if (!(err instanceof PostgresUnreachable)) throw err;
    console.error(`  ${err.message}: skipped`);
    return null;
  }
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'herald-bench-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export const RESULTS_FILE = join(tmpdir(), 'herald-bench', 'latest.json');

/** Merges results into RESULTS_FILE by name, so single benches and run-all share it. */
export function writeResults(results: readonly BenchResult[], extra: Record<string, unknown> = {}): void {
  mkdirSync(join(tmpdir(), 'herald-bench'), { recursive: true });
  let previous: { results?: Record<string, BenchResult> } = {};
  try {
    previous = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as typeof previous;
  } catch {
    // first write
  }
  const merged = { ...previous.results };
  for (const r of results) merged[r.name] = r;
  writeFileSync(RESULTS_FILE, JSON.stringify({ ...previous, ...extra, written_at: new Date().toISOString(), results: merged }, null, 2));
}

const fmt = (n: number) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

export function printTable(results: readonly BenchResult[]): void {
  const rows = results.map((r) => ({
    benchmark: r.name,
    median: `${fmt(r.median)} ${r.unit}`,
    target: `${r.target.op} ${fmt(r.target.value)} ${r.unit}`,
    met: r.met ? 'yes' : 'NO',
    runs: r.runs.map(fmt).join(', '),
    baseline: r.baseline ? `${fmt(r.baseline.median)} ${r.unit}` : '',
    ratio: r.ratio !== undefined ? r.ratio.toFixed(3) : '',
  }));
  console.table(rows);
}

export function duckdbPackageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('@duckdb/node-api/package.json') as { version: string }).version;
}

/** True when this module is the script node was started with (so each bench runs alone too). */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(resolve(script)).href === moduleUrl;
}

/** Hands every (provider, sender) the same limiter: here a very high-rate one, so it never binds. */
export class FixedSenderRegistry extends SenderRegistry {
  constructor(private readonly limiter: RateLimiter) {
    super();
  }
  override open(): Promise<RunPacing> {
    return Promise.resolve({ limiter: this.limiter, pairs: { reserve: () => Promise.resolve(0) }, cap: { rate: this.limiter.ratePerSecond, source: 'bench' }, lost: new AbortController().signal, close: () => Promise.resolve() });
  }
}

/** The headers a bare loop sends to a Meta stand-in, as herald's HttpClient does. */
export const BARE_META_HEADERS = { accept: 'application/json', 'content-type': 'application/json', authorization: 'Bearer EAAbench' };

/**
 * A bare loop's request bodies: the bench job's template (benchJob) as herald's meta adapter builds
 * it, request `i` to its own JP mobile with its own callback data.
 */
export function bareMetaBodies(phoneNumberId: string): (i: number) => string {
  const template = metaRequestBody({
    sendId: 'x', recipient: '+819010000000', sender: phoneNumberId, attempt: 1,
    message: {
      template: { name: 'welcome_back', language: 'ja' },
      body: [{ kind: 'text', text: 'Haruto' }, { kind: 'text', text: '12,345' }, { kind: 'date_time', text: '2027年1月1日' }],
      buttons: [{ index: 0, kind: 'url', text: 'c/000001' }],
    },
  });
  return (i) => JSON.stringify({ ...template, to: `+8190${10000000 + i}`, biz_opaque_callback_data: `s${i.toString(36).padStart(42, '0')}` });
}
