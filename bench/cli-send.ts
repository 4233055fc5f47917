/**
 * Sending as the user runs it (issue 14): the built CLI, `herald run <job>`, in a child process,
 * against the strict Meta stand-in (bench/standin.ts: cap per phone-number id counted at arrival,
 * latency in two legs), with a bare undici loop driving the same stand-in at the same rate in the
 * same run as the baseline.
 *
 * Cases (each on a fresh warehouse and a fresh stand-in window):
 * - 1,000/s (level HIGH) at 150 ms (75 + 75 ± 15) on DuckDB and PostgreSQL, and at 300 ms on DuckDB:
 *   % of the cap reached (least-squares slope of the admitted arrivals over the steady part), windows
 *   above the cap (arrivals whose next 1,000 ms hold more than the cap, refused ones counted),
 *   130429 answers;
 * - CPU per 1,000 messages (user + system of the whole herald process, every thread, start-up
 *   included: as the user pays it) against the bare loop's at the same rate;
 * - 80/s (level STANDARD) on DuckDB and on PostgreSQL: the ledger's cost at an ordinary rate, DuckDB
 *   as a ratio to PostgreSQL (herald's process only; the PostgreSQL server's own CPU is not counted);
 * - peak RSS of each herald process.
 * The child's CPU and peak RSS come from process.resourceUsage() at its exit (a preload,
 * bench/rusage-preload.ts), so they cover the whole process, DuckDB's threads and close included.
 *
 * Run alone: `npm run build --silent && node dist/bench/cli-send.js [--quick] [--only=1000,300,80,bare]`
 * (BENCH_PROFILE=1 writes each child's CPU profile to <os.tmpdir()>/herald-bench/; BENCH_DUCKDB_SETTINGS,
 * e.g. `streaming_memory_limit=off`, is appended to herald's DuckDB URL, to compare settings).
 * Full: medians of 3, ~10 minutes; --quick: one run each with fewer rows. PostgreSQL: BENCH_PG_URL
 * (default postgres://postgres@127.0.0.1:5432/test; a fresh database per run, dropped).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { PostgresWarehouse } from '../src/warehouse/postgres.warehouse.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { pacingStats } from './dispatch-throughput.js';
import { BARE_META_HEADERS, bareMetaBodies, isMain, median, printTable, removeDir, result, tempDir, withFreshDatabase, writeResults, type BenchResult } from './lib.js';
import { Standin, type LatencyModel } from './standin.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'herald.js');
const PRELOAD = join(import.meta.dirname, 'rusage-preload.js');
const PHONE_NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';
const GRAPH_VERSION = 'v24.0';
const LATENCY_150: LatencyModel = { requestMs: 75, responseMs: 75, jitterMs: 15 };
const LATENCY_300: LatencyModel = { requestMs: 150, responseMs: 150, jitterMs: 15 };

/** What the preload writes at the child's exit. */
interface Rusage {
  userS: number;
  systemS: number;
  maxRssMb: number;
}

interface CaseRun {
  accepted: number;
  /** CPU per 1,000 messages while sending: from 1 s after the first arrival to 1 s before the last (start-up and close left out). */
  steadyCpuPer1000: number;
  arrivals: number;
  pctOfCap: number;
  windowsAbove: number;
  maxInWindow: number;
  refused: number;
  cpuPer1000: number;
  peakRssMb: number;
  seconds: number;
  load: number;
}

/** Every row a valid JP mobile with consent: each one is a send. The same SQL on both engines. */
function segmentSql(rows: number): string {
  return `CREATE TABLE bench_segment AS SELECT
  'c' || lpad(i::TEXT, 8, '0') AS customer_id,
  '090' || (10000000 + i)::TEXT AS phone,
  'Haruto' AS first_name,
  ((i * 7919) % 20000)::INTEGER AS points,
  DATE '2027-01-01' + (i % 300)::INTEGER AS expires_on,
  'c/' || lpad((i % 1000000)::TEXT, 6, '0') AS coupon_path,
  'true' AS whatsapp_opt_in
FROM generate_series(0, ${rows - 1}) AS t(i)`;
}

function jobYaml(name: string, rate: number): string {
  return `name: ${name}
timezone: Asia/Tokyo
source: { query: "SELECT customer_id, phone, first_name, points, expires_on, coupon_path, whatsapp_opt_in FROM bench_segment" }
audience: { key: customer_id, phone: phone, default_region: JP, consent: whatsapp_opt_in }
message:
  provider: meta
  sender: "${PHONE_NUMBER_ID}"
  template: { name: welcome_back, language: ja }
  body: [ { column: first_name }, { column: points, type: number }, { column: expires_on, type: date } ]
  buttons: [ { index: 0, url_suffix: { column: coupon_path } } ]
delivery: { rate_per_second: ${rate} }
`;
}

function configYaml(warehouseUrl: string, origin: string): string {
  return `warehouses:
  default: { url: "${warehouseUrl}" }
providers:
  meta: { base_url: "${origin}", graph_version: ${GRAPH_VERSION}, access_token: EAAbench, app_secret: bench-secret, verify_token: bench-verify, waba_id: "${WABA_ID}" }
`;
}

/** A process's CPU time (user + system, every thread) at an epoch-ms moment, from /proc (Linux). */
interface CpuSample {
  at: number;
  cpuS: number;
}

const TICKS_PER_S = 100; // USER_HZ on Linux

function cpuOf(pid: number): number | null {
  try {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return null;
  }
}

/**
 * CPU seconds per 1,000 admitted arrivals between 1 s after the first and 1 s before the last:
 * the steady cost of a message, without start-up, the segment's opening or the close.
 */
function steadyCpuPer1000(samples: readonly CpuSample[], admitted: readonly number[]): number {
  const t = [...admitted].sort((a, b) => a - b);
  const from = t[0]! + 1000;
  const to = t[t.length - 1]! - 1000;
  const first = samples.find((s) => s.at >= from);
  const last = samples.findLast((s) => s.at <= to);
  if (!first || !last || last.at <= first.at) return NaN;
  const messages = t.filter((x) => x >= first.at && x < last.at).length;
  return ((last.cpuS - first.cpuS) * 1000) / messages;
}

/** Runs `node <preload> <args>` in `dir`; resolves with its exit code, stderr tail, rusage and CPU samples every 100 ms. */
function child(dir: string, args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string; rusage: Rusage; seconds: number; samples: CpuSample[] }> {
  const usageFile = join(dir, `rusage-${Date.now()}.json`);
  const started = performance.now();
  // BENCH_PROFILE=1: a CPU profile of each child in <os.tmpdir()>/herald-bench/.
  const profile = process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(tmpdir(), 'herald-bench')}`] : [];
  const proc = spawn(process.execPath, [...profile, '--import', `file://${PRELOAD}`, ...args], {
    cwd: dir, env: { ...process.env, ...env, HERALD_BENCH_RUSAGE_FILE: usageFile }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  const samples: CpuSample[] = [];
  const sampler = setInterval(() => {
    const cpuS = cpuOf(proc.pid!);
    if (cpuS !== null) samples.push({ at: performance.timeOrigin + performance.now(), cpuS });
  }, 100);
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearInterval(sampler);
      try {
        resolve({ code, stderr, rusage: JSON.parse(readFileSync(usageFile, 'utf8')) as Rusage, seconds: (performance.now() - started) / 1000, samples });
      } catch (err) {
        reject(new Error(`child wrote no rusage (exit ${code}): ${stderr.slice(-2000)}`, { cause: err }));
      }
    });
  });
}

async function withWarehouse<T>(engine: 'duckdb' | 'postgres', dir: string, rows: number, work: (url: string) => Promise<T>): Promise<T> {
  const fill = async (wh: Warehouse) => void (await wh.query(segmentSql(rows)));
  if (engine === 'duckdb') {
    const file = join(dir, `wh-${Date.now()}.duckdb`);
    const wh = await DuckDbWarehouse.open(file);
    try {
      await fill(wh);
      await wh.query('CHECKPOINT');
    } finally {
      await wh.close();
    }
    // BENCH_DUCKDB_SETTINGS: DuckDB settings for herald's warehouse URL (e.g. streaming_memory_limit=off), to compare.
    return work(`duckdb:${file}${process.env.BENCH_DUCKDB_SETTINGS ? `?${process.env.BENCH_DUCKDB_SETTINGS}` : ''}`);
  }
  return withFreshDatabase(async (url) => {
    const wh = await PostgresWarehouse.open(url);
    try {
      await fill(wh);
    } finally {
      await wh.close();
    }
    return work(url);
  });
}

/** Epoch ms as ms from the first: pacingStats' least squares lose precision on 1.7e12 squared. */
function relative(epochMs: readonly number[]): number[] {
  const t0 = Math.min(...epochMs);
  return epochMs.map((t) => t - t0);
}

/** One `herald run` of `rows` rows at `cap`/s against the stand-in. */
async function heraldRun(standin: Standin, engine: 'duckdb' | 'postgres', cap: number, latency: LatencyModel, rows: number): Promise<CaseRun> {
  const dir = tempDir();
  try {
    return await withWarehouse(engine, dir, rows, async (url) => {
      await standin.reset({ cap, level: cap >= 1000 ? 'HIGH' : 'STANDARD', ...latency });
      writeFileSync(join(dir, 'job.yaml'), jobYaml('bench_cli_send', cap));
      writeFileSync(join(dir, 'herald.yaml'), configYaml(url, standin.origin));
      const r = await child(dir, [BIN, 'run', 'job.yaml', '--run-key', 'bench'], { HERALD_CONFIG: join(dir, 'herald.yaml'), HERALD_LOG_LEVEL: 'warn' });
      const stats = await standin.stats();
      if (r.code !== 0) throw new Error(`herald run exited ${r.code}: ${r.stderr.slice(-2000)}`);
      const accepted = stats.admitted.length;
      if (accepted < rows) throw new Error(`only ${accepted} of ${rows} rows were admitted by the stand-in: ${r.stderr.slice(-2000)}`);
      const p = pacingStats(relative(stats.arrivals), cap);
      const s = pacingStats(relative(stats.admitted), cap);
      return {
        steadyCpuPer1000: steadyCpuPer1000(r.samples, stats.admitted),
        accepted, arrivals: stats.arrivals.length, pctOfCap: s.pct, windowsAbove: p.windowsAbove, maxInWindow: p.maxInWindow, refused: stats.refusedRequests,
        cpuPer1000: ((r.rusage.userS + r.rusage.systemS) * 1000) / accepted, peakRssMb: r.rusage.maxRssMb, seconds: r.seconds, load: loadavg()[0]!,
      };
    });
  } finally {
    removeDir(dir);
  }
}

/** The baseline: a bare process paced at `cap`/s by the clock (request i at i/cap s), undici on a Pool. */
async function bareRun(standin: Standin, cap: number, latency: LatencyModel, rows: number): Promise<CaseRun> {
  const dir = tempDir();
  try {
    await standin.reset({ cap, level: 'HIGH', ...latency });
    const r = await child(dir, [fileURLToPath(import.meta.url), '--bare', standin.origin, String(cap), String(rows)], {});
    if (r.code !== 0) throw new Error(`bare loop exited ${r.code}: ${r.stderr}`);
    const stats = await standin.stats();
    const p = pacingStats(relative(stats.arrivals), cap);
    const s = pacingStats(relative(stats.admitted), cap);
    return {
      steadyCpuPer1000: steadyCpuPer1000(r.samples, stats.arrivals),
      accepted: stats.admitted.length, arrivals: stats.arrivals.length, pctOfCap: s.pct, windowsAbove: p.windowsAbove, maxInWindow: p.maxInWindow,
      refused: stats.refusedRequests, cpuPer1000: ((r.rusage.userS + r.rusage.systemS) * 1000) / stats.arrivals.length, peakRssMb: r.rusage.maxRssMb,
      seconds: r.seconds, load: loadavg()[0]!,
    };
  } finally {
    removeDir(dir);
  }
}

/** In the bare child: `rows` POSTs of the bench template, request i started at i/cap s, each answer's JSON read. */
async function bare(origin: string, cap: number, rows: number): Promise<void> {
  const pool = new Pool(origin, { connections: 1000, pipelining: 1 });
  const bodyOf = bareMetaBodies(PHONE_NUMBER_ID);
  const url = `${origin}/${GRAPH_VERSION}/${PHONE_NUMBER_ID}/messages`;
  const send = async (i: number) => {
    const body = bodyOf(i);
    const res = await request(url, { method: 'POST', dispatcher: pool, headers: BARE_META_HEADERS, body });
    await res.body.json();
  };
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < rows;) {
    const due = Math.min(rows, Math.floor(((performance.now() - start) * cap) / 1000) + 1);
    for (; i < due; i++) inFlight.push(send(i));
    // Asleep until the next request is due: a bare loop spends nothing between requests.
    await new Promise((r) => setTimeout(r, Math.max(1, start + (i * 1000) / cap - performance.now())));
  }
  await Promise.all(inFlight);
  await pool.close();
}

interface CaseSpec {
  key: string;
  label: string;
  engine: 'duckdb' | 'postgres';
  cap: number;
  latency: LatencyModel;
  rows: number;
}

export async function benchCliSend(o: { quick?: boolean; only?: readonly string[] } = {}): Promise<BenchResult[]> {
  const runs = o.quick ? 1 : 3;
  const fast = o.quick ? 8_000 : 20_000;
  const slow = o.quick ? 800 : 1_600;
  const wanted = (key: string) => !o.only || o.only.some((k) => key.startsWith(k));
  const cases = ([
    { key: '1000-150-duckdb', label: '1,000/s at 150 ms, DuckDB', engine: 'duckdb', cap: 1000, latency: LATENCY_150, rows: fast },
    { key: '1000-150-postgres', label: '1,000/s at 150 ms, PostgreSQL', engine: 'postgres', cap: 1000, latency: LATENCY_150, rows: fast },
    { key: '300-duckdb', label: '1,000/s at 300 ms, DuckDB', engine: 'duckdb', cap: 1000, latency: LATENCY_300, rows: fast },
    { key: '80-duckdb', label: '80/s at 150 ms, DuckDB', engine: 'duckdb', cap: 80, latency: LATENCY_150, rows: slow },
    { key: '80-postgres', label: '80/s at 150 ms, PostgreSQL', engine: 'postgres', cap: 80, latency: LATENCY_150, rows: slow },
  ] satisfies CaseSpec[]).filter((c) => wanted(c.key));
  const standin = await Standin.start();
  const measured = new Map<string, CaseRun[]>();
  const log = (label: string, r: CaseRun) => console.error(`  ${label}: ${r.accepted} accepted, ${r.pctOfCap.toFixed(1)}% of the cap, ${r.windowsAbove} windows above ` +
    `(max ${r.maxInWindow} in 1 s), ${r.refused} refused; CPU-s per 1,000: ${r.steadyCpuPer1000.toFixed(2)} sending, ${r.cpuPer1000.toFixed(2)} whole process; peak RSS ${Math.round(r.peakRssMb)} MB; ${r.seconds.toFixed(1)} s; load ${r.load.toFixed(2)}`);
  try {
    // Alternating herald and the bare loop, run by run, so both see the same machine.
    for (let i = 0; i < runs; i++) {
      for (const [key, cap] of [['bare-1000', 1000], ['bare-80', 80]] as const) {
        if (!wanted('bare') && !cases.some((c) => c.cap === cap)) continue;
        const r = await bareRun(standin, cap, LATENCY_150, cap === 1000 ? fast : slow);
        log(`bare loop ${cap}/s at 150 ms (run ${i + 1}/${runs})`, r);
        measured.set(key, [...(measured.get(key) ?? []), r]);
      }
      for (const c of cases) {
        const r = await heraldRun(standin, c.engine, c.cap, c.latency, c.rows);
        log(`herald run ${c.label} (run ${i + 1}/${runs})`, r);
        measured.set(c.key, [...(measured.get(c.key) ?? []), r]);
      }
    }
  } finally {
    await standin.close();
  }
  const results: BenchResult[] = [];
  const pick = (key: string, f: (r: CaseRun) => number) => (measured.get(key) ?? []).map(f);
  const notes = (key: string) => ({
    accepted: pick(key, (r) => r.accepted), windows_above: pick(key, (r) => r.windowsAbove), max_in_1s: pick(key, (r) => r.maxInWindow),
    refused_130429: pick(key, (r) => r.refused), cpu_s_per_1000_sending: pick(key, (r) => +r.steadyCpuPer1000.toFixed(3)), cpu_s_per_1000_whole_process: pick(key, (r) => +r.cpuPer1000.toFixed(3)), peak_rss_mb: pick(key, (r) => Math.round(r.peakRssMb)),
    seconds: pick(key, (r) => +r.seconds.toFixed(1)), load: pick(key, (r) => +r.load.toFixed(2)),
  });
  for (const c of cases.filter((x) => x.cap === 1000)) {
    results.push(result({
      name: `herald run (CLI) ${c.label}: % of the cap at the provider`, unit: '%', target: { op: '>=', value: 95 },
      runs: pick(c.key, (r) => r.pctOfCap), notes: notes(c.key),
    }));
  }
  if (measured.has('1000-150-duckdb') && measured.has('bare-1000')) {
    results.push(result({
      name: 'herald run (CLI) 1,000/s at 150 ms, DuckDB: CPU-s per 1,000 messages while sending (ratio to the bare loop ≤ 2)', unit: 'CPU-s', target: { op: '<=', value: 2 * median(pick('bare-1000', (r) => r.steadyCpuPer1000)) },
      runs: pick('1000-150-duckdb', (r) => r.steadyCpuPer1000), baseline: { name: 'bare undici loop paced at 1,000/s', runs: pick('bare-1000', (r) => r.steadyCpuPer1000) }, notes: notes('bare-1000'),
    }));
  }
  if (measured.has('1000-150-postgres') && measured.has('bare-1000')) {
    results.push(result({
      name: 'herald run (CLI) 1,000/s at 150 ms, PostgreSQL: CPU-s per 1,000 messages while sending (ratio to the bare loop ≤ 2)', unit: 'CPU-s', target: { op: '<=', value: 2 * median(pick('bare-1000', (r) => r.steadyCpuPer1000)) },
      runs: pick('1000-150-postgres', (r) => r.steadyCpuPer1000), baseline: { name: 'bare undici loop paced at 1,000/s', runs: pick('bare-1000', (r) => r.steadyCpuPer1000) },
    }));
  }
  if (measured.has('80-duckdb') && measured.has('80-postgres')) {
    const pgMedian = median(pick('80-postgres', (r) => r.steadyCpuPer1000));
    results.push(result({
      name: 'herald run (CLI) 80/s, DuckDB: CPU-s per 1,000 messages while sending (ratio to PostgreSQL ≤ 2)', unit: 'CPU-s', target: { op: '<=', value: 2 * pgMedian },
      runs: pick('80-duckdb', (r) => r.steadyCpuPer1000), baseline: { name: 'the same run on PostgreSQL', runs: pick('80-postgres', (r) => r.steadyCpuPer1000) }, notes: { duckdb: notes('80-duckdb'), postgres: notes('80-postgres'), bare_80: notes('bare-80') },
    }));
  }
  return results;
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--bare') {
    await bare(args[1]!, Number(args[2]), Number(args[3]));
  } else {
    const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
    const r = await benchCliSend({ quick: args.includes('--quick'), ...(only ? { only } : {}) });
    printTable(r);
    writeResults(r);
  }
}
