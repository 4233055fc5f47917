/**
 * `herald report` at scale: the funnel of one run (`SELECT * FROM herald.run_funnel WHERE run_id = $1`,
 * through `funnel()`) and its reasons (`reasons()`), both from src/report/funnel.ts, over a run of
 * 1,000,000 sends with their webhook events, on DuckDB (a file in os.tmpdir(), DuckDbWarehouse.open
 * defaults) and on PostgreSQL (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test; a
 * fresh database is created in it and dropped at the end; BENCH_PG_URL=off skips it).
 * Target: ≤ 5 s per query for 1,000,000 sends (scaled down linearly for smaller runs, never below
 * 1 s). What it guards: every join of the views must stay a hash join. A one-sided condition in
 * message_status's LEFT JOIN (`AND s.provider_message_id IS NOT NULL`) once made DuckDB plan a
 * nested loop, and the funnel of a 300,000-send run took 140 s.
 *
 * The data is built by SQL inside each warehouse (the same statements run on both engines), one
 * succeeded run in herald.runs and, for send i of N (sent 1 ms apart, as at 1,000 msg/s):
 * - sends: 90% accepted (provider_message_id 'wamid.<i>'), 10% rejected / suppressed / duplicate
 *   (a third each) without one; recipients unique except 1% (i % 100 = 98), which go to the same
 *   person every REPEAT_EVERY sends, so the "before the next send to them" reply window is used;
 * - events, as Meta's webhooks land them: `sent` and `delivered` for every accepted send except
 *   the 2% that get `sent` and `failed`, `read` for half, `clicked` for 1% (with the message id, as
 *   Infobip sends it), and an `inbound` message from the recipient of 3% (i % 33 = 7), 37 to 157 s
 *   after the send, half of them replying to it (`payload.context.id`, Meta's shape); about
 *   2.3 events per send.
 * The funnel's counts are checked against what that data must give, so a wrong view fails too.
 * A query that fails (an error, or a wrong answer) is a result with no runs (median NaN, target
 * unmet, the error in its notes), not an exception, so `npm run bench` goes on. When DuckDB's
 * queries fail with the defaults (memory_limit 128MB: the funnel of 1,000,000 sends needs more
 * than 256MB), they are timed again with memory_limit FALLBACK_MEMORY_LIMIT, a second pair of
 * results, so the plan's speed is still followed.
 * Run alone: `npm run build && node dist/bench/report.js [sends] [runs]` (defaults 1,000,000 and 3).
 */
import { join } from 'node:path';
import { funnel, reasons, type FunnelRow } from '../src/report/funnel.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { BENCH_PG_URL, isMain, printTable, removeDir, result, tempDir, withFreshPostgres, writeResults, type BenchResult } from './lib.js';

const TARGET_MS_PER_MILLION = 5000;
const TARGET_FLOOR_MS = 1000;
const BUILD_MEMORY_LIMIT = '1GB';
/** DuckDB's limit for a second series when the queries fail with DuckDbWarehouse.open's defaults (128MB). */
const FALLBACK_MEMORY_LIMIT = '1GB';

export const RUN_ID = 'r20260302t090000z_bench001';
const JOB = 'bench_report';
const START = '2026-03-02 09:00:00+00';
const START_MS = Date.parse('2026-03-02T09:00:00Z');
/** Sends (= ms) between two sends to the same repeated recipient. */
const REPEAT_EVERY = 60_000;
/** Send i's row is created at START + i ms and sent SEND_LAG ms later. */
const SEND_LAG = 200;

// ───────────────────────── the data (portable SQL: DuckDB and PostgreSQL) ─────────────────────────

const at = (ms: string) => `(TIMESTAMPTZ '${START}' + (${ms}) * INTERVAL '1 millisecond')`;
const unixSeconds = (ms: string) => `CAST(CAST(floor((${START_MS} + ${ms}) / 1000.0) AS BIGINT) AS text)`;
const recipientIndex = `(CASE WHEN i % 100 = 98 THEN i % ${REPEAT_EVERY} ELSE i END)`;
/** Digits only, as Meta writes `recipient_id` and `from`. */
const waId = `'120155' || lpad(CAST(${recipientIndex} AS text), 8, '0')`;
const series = (sends: number) => `generate_series(0, ${Math.trunc(sends) - 1}) AS t(i)`;

function sendsSql(sends: number): string {
  const status = `CASE WHEN i % 10 <> 9 THEN 'accepted' WHEN i % 30 = 9 THEN 'rejected' WHEN i % 30 = 19 THEN 'suppressed' ELSE 'duplicate' END`;
  return `INSERT INTO herald.sends (send_id, run_id, job, row_key, recipient, idempotency_key, provider, sender, template, language,
  variables, status, reason, error_code, error_detail, provider_message_id, attempts, created_at, sent_at)
SELECT md5('${RUN_ID}/' || CAST(i AS text)), '${RUN_ID}', '${JOB}', 'c' || lpad(CAST(i AS text), 8, '0'),
  CASE WHEN i % 30 = 9 THEN NULL ELSE '+' || ${waId} END,
  md5('${JOB}/' || CAST(i AS text)) || substr(md5('job/' || CAST(i AS text)), 1, 8), 'meta', '106540352242922', 'welcome_back', 'ja',
  CASE WHEN i % 10 <> 9 THEN CAST('{"body.1":"Haruto","body.2":"' || CAST(((i % 20000) * 7919) % 20000 AS text) ||
    '","body.3":"2027年1月1日","button.0":"c/' || lpad(CAST(i AS text), 8, '0') || '"}' AS json) END,
  ${status},
  CASE WHEN i % 10 <> 9 THEN NULL WHEN i % 30 = 9 THEN (CASE WHEN i % 60 = 9 THEN 'invalid_phone' ELSE 'not_mobile' END)
    WHEN i % 30 = 19 THEN 'no_consent' ELSE 'duplicate_in_segment' END,
  NULL,
  CASE WHEN i % 10 <> 9 THEN NULL WHEN i % 30 = 9 THEN 'not a valid US number' WHEN i % 30 = 19 THEN 'whatsapp_opt_in is "false"'
    ELSE 'same recipient as an earlier row of the segment' END,
  CASE WHEN i % 10 <> 9 THEN 'wamid.' || CAST(i AS text) END,
  CASE WHEN i % 10 <> 9 THEN 1 ELSE 0 END,
  ${at('i')},
  CASE WHEN i % 10 <> 9 THEN ${at(`i + ${SEND_LAG}`)} END
FROM ${series(sends)}`;
}

function eventsSql(sends: number): string {
  const status = (type: string, extra = '') =>
    `'{"id":"' || wamid || '","status":"${type}","timestamp":"' || ${unixSeconds('ms')} || '","recipient_id":"' || wa_id || '"${extra}}'`;
  const pricing = `,"conversation":{"id":"' || md5(wamid) || '","origin":{"type":"marketing"}},"pricing":{"billable":true,"pricing_model":"PMP","category":"marketing","type":"regular"}`;
  const failure = `,"errors":[{"code":131049,"title":"This message was not delivered to maintain healthy ecosystem engagement.","message":"This message was not delivered to maintain healthy ecosystem engagement.","error_data":{"details":"In order to maintain a healthy ecosystem engagement, the message failed to be delivered."}}]`;
  const inbound = `'{"from":"' || wa_id || '","id":"wamid.in.' || CAST(i AS text) || '","timestamp":"' || ${unixSeconds('ms')} || '","type":"text","text":{"body":"Thanks! Is the coupon still valid?"}' ||
    CASE WHEN i % 66 = 7 THEN ',"context":{"from":"15550001234","id":"' || wamid || '"}' ELSE '' END || '}'`;
  const clicked = `'{"messageId":"' || wamid || '","recipient":"' || wa_id || '","url":"https://example.com/c/' || CAST(i AS text) || '","clickedAt":"' || ${unixSeconds('ms')} || '"}'`;
  // `ms`: when the event happened, in ms after START.
  return `INSERT INTO herald.events (event_id, provider, event_type, provider_message_id, recipient, occurred_at, received_at,
  error_code, error_detail, pricing_category, payload)
WITH s AS (
  SELECT i, 'wamid.' || CAST(i AS text) AS wamid, ${waId} AS wa_id FROM ${series(sends)} WHERE i % 10 <> 9
),
e AS (
  SELECT i, wamid, wa_id, 'sent' AS event_type, i + ${SEND_LAG} + 1000 AS ms FROM s
  UNION ALL SELECT i, wamid, wa_id, 'delivered', i + ${SEND_LAG} + 3000 FROM s WHERE i % 50 <> 3
  UNION ALL SELECT i, wamid, wa_id, 'read', i + ${SEND_LAG} + 45000 FROM s WHERE i % 50 <> 3 AND i % 2 = 0
  UNION ALL SELECT i, wamid, wa_id, 'failed', i + ${SEND_LAG} + 2000 FROM s WHERE i % 50 = 3
  UNION ALL SELECT i, wamid, wa_id, 'clicked', i + ${SEND_LAG} + 90000 FROM s WHERE i % 100 = 10
  UNION ALL SELECT i, wamid, wa_id, 'inbound', i + ${SEND_LAG} + 37000 + (i % 5) * 30000 FROM s WHERE i % 33 = 7
)
SELECT md5(event_type || '/' || wamid), 'meta', event_type,
  CASE WHEN event_type = 'inbound' THEN 'wamid.in.' || CAST(i AS text) ELSE wamid END,
  '+' || wa_id,
  ${at('ms')}, ${at('ms + 400')},
  CASE WHEN event_type = 'failed' THEN '131049' END,
  CASE WHEN event_type = 'failed' THEN 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.' END,
  CASE WHEN event_type IN ('sent', 'delivered') THEN 'marketing' END,
  CAST(CASE event_type
    WHEN 'inbound' THEN ${inbound}
    WHEN 'clicked' THEN ${clicked}
    WHEN 'failed' THEN ${status('failed', failure)}
    WHEN 'read' THEN ${status('read')}
    ELSE (CASE WHEN event_type = 'sent' THEN ${status('sent', pricing)} ELSE ${status('delivered', pricing)} END)
  END AS json)
FROM e`;
}

/** What the funnel of that data must say (counted per residue, not per row). */
export function expectedFunnel(sends: number): Record<string, number> {
  const n = Math.trunc(sends);
  // Every pattern above repeats every 300 sends (lcm of 2, 10, 30, 50, 60 and 100 divides 300).
  const count = (pred: (i: number) => boolean) => {
    let total = 0;
    for (let r = 0; r < 300 && r < n; r++) if (pred(r)) total += Math.floor((n - 1 - r) / 300) + 1;
    return total;
  };
  const accepted = (i: number) => i % 10 !== 9;
  const failed = (i: number) => i % 50 === 3;
  // Replied: the send an inbound message answers (context), and the recipient's send it follows.
  const replied = new Set<number>();
  for (let i = 7; i < n; i += 33) {
    if (!accepted(i)) continue;
    if (i % 66 === 7) replied.add(i);
    if (i % 100 !== 98) {
      replied.add(i);
      continue;
    }
    const delay = 37_000 + (i % 5) * 30_000;
    let j = i + REPEAT_EVERY * Math.floor(delay / REPEAT_EVERY);
    while (j >= n) j -= REPEAT_EVERY;
    replied.add(j);
  }
  return {
    audience: n,
    rejected: count((i) => i % 30 === 9),
    suppressed: count((i) => i % 30 === 19),
    duplicate: count((i) => i % 30 === 29),
    planned: 0,
    accepted: count(accepted),
    delivered: count((i) => accepted(i) && !failed(i)),
    read: count((i) => accepted(i) && !failed(i) && i % 2 === 0),
    failed: count(failed),
    deferred: 0,
    unknown: 0,
    clicked: count((i) => i % 100 === 10),
    replied: replied.size,
  };
}

function runSql(sends: number): string {
  const e = expectedFunnel(sends);
  return `INSERT INTO herald.runs (run_id, job, run_key, status, dry_run, started_at, finished_at, audience, rejected, suppressed,
  duplicate, planned, accepted, failed, deferred, unknown, error)
VALUES ('${RUN_ID}', '${JOB}', '2026-03-02', 'succeeded', false, ${at('-5000')}, ${at(`${Math.trunc(sends)} + 10000`)},
  ${e.audience}, ${e.rejected}, ${e.suppressed}, ${e.duplicate}, 0, ${e.accepted}, 0, 0, 0, NULL)`;
}

/**
 * Fills an empty warehouse (herald's tables just created) with the bench run; returns the number
 * of events. PostgreSQL's tables are then vacuumed and analyzed (autovacuum would, in use).
 */
export async function buildReportData(wh: Warehouse, sends: number): Promise<number> {
  await wh.query(runSql(sends));
  await wh.query(sendsSql(sends));
  await wh.query(eventsSql(sends));
  if (wh.kind === 'postgres') {
    for (const table of ['runs', 'sends', 'events']) await wh.query(`VACUUM ANALYZE herald.${table}`);
  } else {
    await wh.query('CHECKPOINT');
  }
  const [row] = await wh.query<{ n: unknown }>('SELECT count(*) AS n FROM herald.events');
  return Number(row?.n);
}

// ───────────────────────── the measurements ─────────────────────────

function checkFunnel(kind: string, rows: readonly FunnelRow[], sends: number): void {
  const expected = expectedFunnel(sends);
  const row = rows[0];
  const wrong = row === undefined || rows.length !== 1
    ? [`${rows.length} rows`]
    : Object.entries(expected).filter(([k, v]) => Number(row[k as keyof FunnelRow]) !== v).map(([k, v]) => `${k} ${String(row[k as keyof FunnelRow])}, expected ${v}`);
  if (wrong.length > 0) throw new Error(`${kind}: herald.run_funnel is wrong: ${wrong.join('; ')}`);
}

interface Timed {
  runs: number[];
  /** What the first failed run threw (an engine error, or a wrong answer); no run of the query follows it. */
  error?: string;
}

/** Times `query` (not `check`) unless it failed before: a failure is recorded, never thrown, so run-all goes on. */
async function timed<R>(t: Timed, query: () => Promise<R>, check: (r: R) => void): Promise<string> {
  if (t.error !== undefined) return 'failed';
  try {
    const start = performance.now();
    const r = await query();
    const ms = performance.now() - start;
    check(r);
    t.runs.push(ms);
    return `${Math.round(ms)} ms`;
  } catch (err) {
    t.error = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
    return `failed: ${t.error}`;
  }
}

async function timeQueries(kind: string, wh: Warehouse, sends: number, runs: number): Promise<{ funnel: Timed; reasons: Timed }> {
  const f: Timed = { runs: [] };
  const r: Timed = { runs: [] };
  const n = Math.trunc(sends);
  for (let i = 0; i < runs; i++) {
    const funnelSaid = await timed(f, () => funnel(wh, { runId: RUN_ID }), (rows) => checkFunnel(kind, rows, n));
    const reasonsSaid = await timed(r, () => reasons(wh, [RUN_ID]), (rows) => {
      const total = rows.reduce((sum, x) => sum + Number(x.count), 0);
      if (total !== n) throw new Error(`${kind}: reasons() counted ${total} sends, expected ${n}`);
    });
    console.error(`  ${kind} run ${i + 1}/${runs}: funnel ${funnelSaid}, reasons ${reasonsSaid}`);
  }
  return { funnel: f, reasons: r };
}

/** Per query: 5 s for 1,000,000 sends, in proportion below that, and at least 1 s. */
export function targetMs(sends: number): number {
  return Math.max(TARGET_FLOOR_MS, Math.round((TARGET_MS_PER_MILLION * sends) / 1_000_000));
}

function results(kind: string, sends: number, events: number, buildMs: number, t: { funnel: Timed; reasons: Timed }): BenchResult[] {
  const label = `${sends.toLocaleString('en-US')} sends`;
  const notes = {
    sends, events, data_build_ms: Math.round(buildMs),
    target: `≤ ${TARGET_MS_PER_MILLION / 1000} s per query for 1,000,000 sends (the report of a big run stays interactive); a nested-loop join in the views takes minutes`,
  };
  const one = (name: string, query: string, q: Timed): BenchResult => {
    // No successful run: the median is NaN (null in the JSON), the target unmet, the error in the notes.
    const r = result({ name, unit: 'ms', target: { op: '<=', value: targetMs(sends) }, runs: q.runs, notes: { ...notes, query, ...(q.error ? { error: q.error } : {}) } });
    return q.error ? { ...r, met: false } : r;
  };
  return [
    one(`report: run_funnel of one run, ${kind} (${label})`, 'SELECT * FROM herald.run_funnel WHERE run_id = $1', t.funnel),
    one(`report: reasons of one run, ${kind} (${label})`, 'reasons(): herald.sends of the run grouped by status, reason', t.reasons),
  ];
}

async function benchDuckDb(sends: number, runs: number): Promise<BenchResult[]> {
  const dir = tempDir();
  try {
    const path = join(dir, 'report.duckdb');
    const start = performance.now();
    // The build is not what is measured, and at 128MB its million-row INSERT … SELECTs run out of
    // memory (herald's own writes come in batches): it gets BUILD_MEMORY_LIMIT.
    let wh = await DuckDbWarehouse.open(path, { memory_limit: BUILD_MEMORY_LIMIT });
    let events: number;
    try {
      events = await buildReportData(wh, sends);
    } finally {
      await wh.close();
    }
    const buildMs = performance.now() - start;
    console.error(`  duckdb: ${sends.toLocaleString('en-US')} sends and ${events.toLocaleString('en-US')} events built in ${Math.round(buildMs)} ms`);
    const timeWith = async (settings: Record<string, string>) => {
      // Reopened, as `herald report` opens it: nothing of the build left in DuckDB's buffers.
      wh = await DuckDbWarehouse.open(path, settings);
      try {
        return await timeQueries('duckdb', wh, sends, runs);
      } finally {
        await wh.close();
      }
    };
    const t = await timeWith({});
    const out = results('duckdb', sends, events, buildMs, t);
    const error = t.funnel.error ?? t.reasons.error;
    if (error !== undefined) {
      // Still a time to follow: with the defaults failing, a slower plan would go unseen.
      console.error(`  duckdb: failed with DuckDbWarehouse.open's defaults; timed again with memory_limit ${FALLBACK_MEMORY_LIMIT}`);
      out.push(...results(`duckdb with memory_limit ${FALLBACK_MEMORY_LIMIT}`, sends, events, buildMs, await timeWith({ memory_limit: FALLBACK_MEMORY_LIMIT })));
    }
    return out;
  } finally {
    removeDir(dir);
  }
}

async function benchPostgres(sends: number, runs: number): Promise<BenchResult[]> {
  const measured = await withFreshPostgres(async (wh) => {
    const start = performance.now();
    const events = await buildReportData(wh, sends);
    const buildMs = performance.now() - start;
    console.error(`  postgres: ${sends.toLocaleString('en-US')} sends and ${events.toLocaleString('en-US')} events built in ${Math.round(buildMs)} ms`);
    return results('postgres', sends, events, buildMs, await timeQueries('postgres', wh, sends, runs));
  });
  return measured ?? [];
}

/** DuckDB, then PostgreSQL when reachable (`BENCH_PG_URL=off` skips it). */
export async function benchReport(sends = 1_000_000, runs = 3): Promise<BenchResult[]> {
  const out = await benchDuckDb(sends, runs);
  if (BENCH_PG_URL !== 'off') out.push(...(await benchPostgres(sends, runs)));
  return out;
}

if (isMain(import.meta.url)) {
  const [sends, runs] = process.argv.slice(2).map(Number);
  const r = await benchReport(sends || undefined, runs || undefined);
  printTable(r);
  writeResults(r);
}
