/**
 * Dispatch throughput of one process against a zero-latency local Meta Cloud API, outcomes landed.
 * Target (DESIGN "Performance targets"): ≥ 5,000 msg/s and ≥ 0.5 × a bare undici loop against the
 * same server in the same run.
 *
 * - Server: node:http on 127.0.0.1 in a CHILD process (this file with `--serve`), answering every
 *   POST at once with Meta's success body. A child, not in-process: on 2 cores, a server on the
 *   client's event loop would take roughly half of the client's time and the numbers would
 *   measure the two together. pacing.ts uses the same server for its arrival-side view.
 * - Baseline: a bare loop of undici `request` calls on a Pool (64 connections, pipelining 1, as
 *   herald's HttpClient makes it), 64 in flight, POSTing a Meta template body, reading the JSON answer.
 * - Herald: a real `runJob` with the `meta` adapter over an all-valid JP-mobile segment (every row
 *   is sent), landing every outcome in `herald.sends`; counted afterwards from the table.
 *   (a) one sender at `rate_per_second: 1000` (the job schema's maximum), default concurrency 64:
 *       does it hold the rate (steady rate of the provider calls, as in pacing.ts) and with how much
 *       CPU (process.cpuUsage(), every thread, % of one core)?
 *   (b) the limiter out of the way: the same `SlidingWindowLimiter` class with a 100,000/s rate,
 *       handed to runJob through a SenderRegistry, so every other part of the path (and the
 *       limiter's own bookkeeping) is still measured. The job schema stops at 1,000/s, so this is
 *       what "maximum throughput" can mean for herald; K senders × 1,000/s would only measure K.
 * Each on DuckDB (a file in os.tmpdir()) and on PostgreSQL when BENCH_PG_URL is reachable
 * (default postgres://postgres@127.0.0.1:5432/test; a fresh database is created in it and dropped
 * at the end; BENCH_PG_URL=off skips it).
 * Run alone: `npm run build && node dist/bench/dispatch-throughput.js [rows] [runs] [paced rows]`
 * (defaults 30,000, 3 and 6,000; `npm run bench` uses 20,000 rows: ~2 minutes on 2 cores).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import type { LoadedJob } from '../src/config/load.js';
import { MetaConfigSchema } from '../src/config/runtime.schema.js';
import { SlidingWindowLimiter } from '../src/dispatch/limiter.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { silentLogger } from '../src/log.js';
import { runJob } from '../src/pipeline/run-job.js';
import { MetaProvider } from '../src/providers/meta/meta.provider.js';
import type { OutboundMessage, Provider, SendOutcome } from '../src/providers/provider.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { BARE_META_HEADERS, bareMetaBodies, BENCH_PG_URL, benchJob, FixedSenderRegistry, isMain, median, printTable, removeDir, result, SEGMENT_TABLE, tempDir, withFreshPostgres, writeResults, type BenchResult } from './lib.js';

const TARGET_MSG_PER_S = 5000;
const TARGET_RATIO = 0.5;
const CONNECTIONS = 64; // HttpClient's default Pool size, and the job's default concurrency
const PHONE_NUMBER_ID = '106540352242922';
const GRAPH_VERSION = 'v24.0';
const UNPACED_RATE = 100_000;

// ───────────────────────── the local Meta server (child process) ─────────────────────────

type ToServer = { type: 'reset'; record: boolean } | { type: 'stats' };
type FromServer = { type: 'ready'; port: number } | { type: 'stats'; requests: number; arrivals: number[] };

/** Runs in the child: answers every POST at once with Meta's success body. */
function serve(): void {
  let requests = 0;
  let record = false;
  let arrivals: number[] = [];
  let wamids = 0;
  const server = createServer((req, res) => {
    const at = performance.now();
    requests++;
    if (record) arrivals.push(at);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let to = '';
      try {
        to = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { to?: unknown }).to ?? '');
      } catch {
        // a non-JSON body still gets the success answer: this server measures transport only
      }
      const body = JSON.stringify({
        messaging_product: 'whatsapp',
        contacts: [{ input: to, wa_id: to.replace(/\D/g, '') }],
        messages: [{ id: `wamid.HBgL${(++wamids).toString(36).padStart(12, '0')}` }],
      });
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ type: 'ready', port: (server.address() as AddressInfo).port } satisfies FromServer));
  process.on('message', (m: ToServer) => {
    if (m.type === 'reset') {
      requests = 0;
      arrivals = [];
      record = m.record;
    } else {
      process.send!({ type: 'stats', requests, arrivals } satisfies FromServer);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** The parent's handle on the child server. */
export class LocalMetaServer {
  private constructor(private readonly child: ChildProcess, readonly origin: string) {}

  static async start(): Promise<LocalMetaServer> {
    const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
      child.once('message', (m: FromServer) => (m.type === 'ready' ? resolve(m.port) : reject(new Error('unexpected message'))));
    });
    child.removeAllListeners('exit');
    return new LocalMetaServer(child, `http://127.0.0.1:${port}`);
  }

  get messagesPath(): string {
    return `/${GRAPH_VERSION}/${PHONE_NUMBER_ID}/messages`;
  }

  /** Zeroes the request count; with `record`, keeps every arrival time (child's performance.now()). */
  reset(record = false): void {
    this.child.send({ type: 'reset', record } satisfies ToServer);
  }

  stats(): Promise<{ requests: number; arrivals: number[] }> {
    return new Promise((resolve) => {
      this.child.once('message', (m: FromServer) => {
        if (m.type === 'stats') resolve(m);
      });
      this.child.send({ type: 'stats' } satisfies ToServer);
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}

// ───────────────────────── segment and job ─────────────────────────

/** `rows` rows, all distinct valid JP mobiles (090-1xxx-xxxx), all with consent: every row is a send. */
function segmentDdl(kind: 'duckdb' | 'postgres', rows: number): string {
  const n = Math.trunc(rows);
  const names = `'Haruto', 'Yui', '陽翔', 'さくら', 'Budi', 'Ken 🎉'`;
  return kind === 'duckdb'
    ? `CREATE OR REPLACE TABLE ${SEGMENT_TABLE} AS SELECT
  'c' || lpad(i::VARCHAR, 8, '0') AS customer_id, '090' || (10000000 + i)::VARCHAR AS phone,
  list_element([${names}], (i % 6 + 1)::INTEGER) AS first_name, ((i * 7919) % 20000)::INTEGER AS points,
  DATE '2027-01-01' + (i % 300)::INTEGER AS expires_on, 'c/' || lpad(i::VARCHAR, 6, '0') AS coupon_path, 'true' AS whatsapp_opt_in
FROM (SELECT range AS i FROM range(${n}))`
    : `CREATE TABLE ${SEGMENT_TABLE} AS SELECT
  'c' || lpad(i::text, 8, '0') AS customer_id, '090' || (10000000 + i)::text AS phone,
  (ARRAY[${names}])[i % 6 + 1] AS first_name, ((i * 7919) % 20000)::int AS points,
  DATE '2027-01-01' + (i % 300)::int AS expires_on, 'c/' || lpad(i::text, 6, '0') AS coupon_path, 'true'::text AS whatsapp_opt_in
FROM generate_series(0, ${n - 1}) AS i`;
}

/** The demo job's shape (3 body parameters and a URL button) sent through `meta`. */
function metaJob(name: string, rate: number): LoadedJob {
  const loaded = benchJob(name, rate);
  return { ...loaded, job: { ...loaded.job, message: { ...loaded.job.message, provider: 'meta', sender: PHONE_NUMBER_ID } } };
}

/** Delegates to the adapter; keeps the moment of each call (the start the limiter allowed). */
class TimedProvider implements Provider {
  readonly name = 'meta' as const;
  readonly defaultRatePerSecond: number;
  readonly starts: number[] = [];
  constructor(private readonly inner: Provider) {
    this.defaultRatePerSecond = inner.defaultRatePerSecond;
  }
  send(message: OutboundMessage): Promise<SendOutcome> {
    this.starts.push(performance.now());
    return this.inner.send(message);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface Stats {
  count: number;
  /** Achieved rate over the steady part, % of the configured rate. */
  pct: number;
  windowsAbove: number;
  maxInWindow: number;
}

/**
 * Pacing figures of a list of start (or arrival) times in ms, `times` in any order:
 * - pct: least-squares slope of the times against their index over the steady part (the first
 *   and the last second left out), as % of `rate`;
 * - windowsAbove: the times t for which [t, t + 1 s) holds more than `rate` (a window holding the
 *   most begins at one of them, so none is missed); maxInWindow: the most in any [t, t + 1 s).
 */
export function pacingStats(unsorted: readonly number[], rate: number): Stats {
  const t = [...unsorted].sort((a, b) => a - b);
  let windowsAbove = 0;
  let maxInWindow = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (j < t.length && t[j]! < t[i]! + 1000) j++;
    const n = j - i;
    if (n > rate) windowsAbove++;
    maxInWindow = Math.max(maxInWindow, n);
  }
  // Steady part: from 1 s after the first start to 1 s before the last (all of it for runs under 3 s).
  const long = t[t.length - 1]! - t[0]! >= 3000;
  const from = long ? t[0]! + 1000 : -Infinity;
  const to = long ? t[t.length - 1]! - 1000 : Infinity;
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  t.forEach((x, k) => {
    if (x < from || x > to) return;
    n++;
    sx += x;
    sy += k;
    sxx += x * x;
    sxy += x * k;
  });
  const slopePerMs = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  return { count: t.length, pct: ((slopePerMs * 1000) / rate) * 100, windowsAbove, maxInWindow };
}


// ───────────────────────── the measurements ─────────────────────────

/** The bare loop: `total` POSTs, `CONNECTIONS` in flight, each answer's JSON read. */
async function bareLoop(server: LocalMetaServer, total: number): Promise<number> {
  const pool = new Pool(server.origin, { connections: CONNECTIONS, pipelining: 1 });
  const bodyOf = bareMetaBodies(PHONE_NUMBER_ID);
  const url = `${server.origin}${server.messagesPath}`;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const body = bodyOf(i);
      const res = await request(url, { method: 'POST', dispatcher: pool, headers: BARE_META_HEADERS, body });
      const json = (await res.body.json()) as { messages?: { id?: string }[] };
      if (res.statusCode !== 200 || !json.messages?.[0]?.id) throw new Error(`bare loop: HTTP ${res.statusCode}`);
    }
  };
  try {
    server.reset();
    const start = performance.now();
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    const ms = performance.now() - start;
    const { requests } = await server.stats();
    if (requests !== total) throw new Error(`bare loop: server saw ${requests} requests, expected ${total}`);
    return total / (ms / 1000);
  } finally {
    await pool.close();
  }
}

interface HeraldRun {
  msgPerS: number;
  /** (starts − 1) / (last start − first start): the sending phase alone. */
  sendRate: number;
  /** The starts (provider calls) against 1,000/s: meaningful for the paced runs. */
  starts: Stats;
  /** Process CPU (user + system, all threads) over the run, as % of one core. */
  cpuPct: number;
  ms: number;
}

/** `paced`: the job's own limiter at 1,000/s over the first `rows` rows (runJob's `limit`). */
async function heraldRun(wh: Warehouse, server: LocalMetaServer, jobName: string, rows: number, paced: boolean): Promise<HeraldRun> {
  const meta = new MetaProvider(MetaConfigSchema.parse({ base_url: server.origin, graph_version: GRAPH_VERSION, access_token: 'EAAbench' }), { configFile: 'bench' });
  const provider = new TimedProvider(meta);
  const senders = paced ? new SenderRegistry() : new FixedSenderRegistry(new SlidingWindowLimiter(UNPACED_RATE));
  try {
    server.reset();
    const cpu = process.cpuUsage();
    const start = performance.now();
    const summary = await runJob({ loaded: metaJob(jobName, 1000), wh, provider, senders, logger: silentLogger, ...(paced ? { limit: rows } : {}) });
    const ms = performance.now() - start;
    const used = process.cpuUsage(cpu);
    // Outcomes landed: counted from herald.sends itself, not from the summary.
    const [landed] = await wh.query<{ accepted: unknown; other: unknown }>(
      `SELECT count(*) FILTER (WHERE status = 'accepted' AND provider_message_id IS NOT NULL) AS accepted,
              count(*) FILTER (WHERE status <> 'accepted') AS other FROM herald.sends WHERE run_id = $1`, [summary.run_id]);
    const accepted = Number(landed?.accepted);
    const { requests } = await server.stats();
    if (summary.status !== 'succeeded' || accepted !== rows || Number(landed?.other) !== 0 || requests !== rows) {
      throw new Error(`${jobName}: run ${summary.status} (${summary.error}), ${accepted} accepted and ${String(landed?.other)} other rows landed, server saw ${requests}; expected ${rows}`);
    }
    const s = provider.starts;
    return {
      msgPerS: accepted / (ms / 1000),
      sendRate: (s.length - 1) / ((s[s.length - 1]! - s[0]!) / 1000),
      cpuPct: ((used.user + used.system) / 1000 / ms) * 100,
      starts: pacingStats(s, 1000),
      ms,
    };
  } finally {
    await provider.close();
  }
}

interface Section {
  warehouse: 'duckdb' | 'postgres';
  unpaced: BenchResult;
  paced: BenchResult;
}

async function benchOn(kind: 'duckdb' | 'postgres', wh: Warehouse, server: LocalMetaServer, rows: number, pacedRows: number, runs: number): Promise<Section> {
  const load = [loadavg()[0]!];
  const setup = performance.now();
  await wh.query(segmentDdl(kind, rows));
  console.error(`  ${kind}: ${rows.toLocaleString('en-US')}-row segment built in ${Math.round(performance.now() - setup)} ms`);
  const bare: number[] = [];
  const unpaced: HeraldRun[] = [];
  const paced: HeraldRun[] = [];
  await bareLoop(server, 2000); // warm-up: JIT, the child's JIT, connections
  for (let i = 0; i < runs; i++) {
    // Interleaved, so drift in the shared machine's load hits both alike.
    bare.push(await bareLoop(server, rows));
    const u = await heraldRun(wh, server, `bench_dispatch_max_${i + 1}`, rows, false);
    unpaced.push(u);
    console.error(`  ${kind} run ${i + 1}/${runs}: bare undici ${Math.round(bare[i]!)} req/s; herald unpaced ${Math.round(u.msgPerS)} msg/s ` +
      `(send phase ${Math.round(u.sendRate)}/s, ${Math.round(u.ms)} ms, CPU ${Math.round(u.cpuPct)}% of a core)`);
  }
  for (let i = 0; i < runs; i++) {
    const p = await heraldRun(wh, server, `bench_dispatch_paced_${i + 1}`, pacedRows, true);
    paced.push(p);
    console.error(`  ${kind} paced run ${i + 1}/${runs}: steady ${p.starts.pct.toFixed(1)}% of 1,000/s, ${Math.round(p.msgPerS)} msg/s end to end, ` +
      `${p.starts.windowsAbove} windows above, max ${p.starts.maxInWindow} starts in 1 s, CPU ${Math.round(p.cpuPct)}% of a core`);
  }
  load.push(loadavg()[0]!);
  const pick = (xs: HeraldRun[], f: (r: HeraldRun) => number) => xs.map(f);
  const unpacedResult = result({
    name: `dispatch throughput, meta → local server, landed in ${kind} (${rows.toLocaleString('en-US')} rows, limiter at ${UNPACED_RATE.toLocaleString('en-US')}/s)`,
    unit: 'msg/s',
    target: { op: '>=', value: TARGET_MSG_PER_S },
    runs: pick(unpaced, (r) => r.msgPerS),
    baseline: { name: `bare undici request loop, Pool of ${CONNECTIONS}, ${CONNECTIONS} in flight`, runs: bare },
    notes: {
      rows, connections: CONNECTIONS, concurrency: 64,
      send_phase_msg_per_s: pick(unpaced, (r) => Math.round(r.sendRate)),
      cpu_pct_of_one_core: pick(unpaced, (r) => Math.round(r.cpuPct)),
      ratio_target: TARGET_RATIO,
      load_avg_1m_before_after: load.map((x) => Number(x.toFixed(2))),
    },
  });
  unpacedResult.met = unpacedResult.met && (unpacedResult.ratio ?? 0) >= TARGET_RATIO;
  const pacedResult = result({
    name: `one sender at rate_per_second 1000, landed in ${kind} (${pacedRows.toLocaleString('en-US')} rows): steady send rate`,
    unit: '% of rate',
    target: { op: '>=', value: 99 },
    runs: pick(paced, (r) => r.starts.pct),
    notes: {
      rows: pacedRows,
      end_to_end_msg_per_s: pick(paced, (r) => Math.round(r.msgPerS)),
      send_phase_msg_per_s: pick(paced, (r) => Math.round(r.sendRate)),
      windows_above: pick(paced, (r) => r.starts.windowsAbove),
      max_starts_in_one_second: pick(paced, (r) => r.starts.maxInWindow),
      cpu_pct_of_one_core: pick(paced, (r) => Math.round(r.cpuPct)),
      cpu_pct_median: Math.round(median(pick(paced, (r) => r.cpuPct))),
    },
  });
  pacedResult.met = pacedResult.met && paced.every((r) => r.starts.windowsAbove === 0);
  return { warehouse: kind, unpaced: unpacedResult, paced: pacedResult };
}

/** DuckDB, then PostgreSQL when reachable (`BENCH_PG_URL=off` skips it). */
export async function benchDispatchThroughput(rows = 30_000, runs = 3, pacedRows = 6_000): Promise<BenchResult[]> {
  const server = await LocalMetaServer.start();
  const dir = tempDir();
  const results: BenchResult[] = [];
  try {
    const duck = await DuckDbWarehouse.open(join(dir, 'dispatch.duckdb'));
    try {
      const s = await benchOn('duckdb', duck, server, rows, pacedRows, runs);
      results.push(s.unpaced, s.paced);
    } finally {
      await duck.close();
    }
    if (BENCH_PG_URL !== 'off') {
      const s = await withFreshPostgres((wh) => benchOn('postgres', wh, server, rows, pacedRows, runs));
      if (s) results.push(s.unpaced, s.paced);
    }
  } finally {
    removeDir(dir);
    await server.close();
  }
  return results;
}

if (isMain(import.meta.url)) {
  if (process.argv[2] === '--serve') {
    serve();
  } else {
    const [rows, runs, pacedRows] = process.argv.slice(2).map(Number);
    const r = await benchDispatchThroughput(rows || undefined, runs || undefined, pacedRows || undefined);
    printTable(r);
    writeResults(r);
  }
}
