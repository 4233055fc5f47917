/**
 * Scale-out: throughput of 1, 2 and 4 `herald worker` processes (the built CLI, each its own
 * process) on PostgreSQL, sending 4 runs at once — one per sender, each sender capped at
 * 1,000 msg/s through Redis (shared by every process) — against a local stand-in of Meta's Cloud
 * API (dispatch-throughput.ts's LocalMetaServer, a child process answering every POST at once).
 * Each run is planned into 4 parts; each worker runs up to 4 parts at once. msg/s = accepted
 * sends landed / (time from enqueue to the last run's end); the ceiling is 4 × 1,000 msg/s.
 *
 * Needs BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test; a fresh database is made
 * and dropped) and BENCH_REDIS_URL (default redis://127.0.0.1:6379).
 * Run alone: `npm run build && node dist/bench/workers.js [rows per sender] [runs]` (4,000 and 3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enqueueRun } from '../src/runs/run-queue.js';
import { PostgresWarehouse } from '../src/warehouse/postgres.warehouse.js';
import { LocalMetaServer } from './dispatch-throughput.js';
import { isMain, printTable, removeDir, result, tempDir, withFreshDatabase, type BenchResult } from './lib.js';

const SENDERS = ['106540352242901', '106540352242902', '106540352242903', '106540352242904'];
const SENDER_RATE = 1000;
const WORKER_COUNTS = [1, 2, 4];
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'herald.js');

/** All-valid JP mobiles, consent true: every row is sent. */
function segmentDdl(rows: number): string {
  return `CREATE TABLE bench_workers_segment AS SELECT 'c' || lpad(i::text, 8, '0') AS customer_id, '090' || (10000000 + i)::text AS phone,
    'Haruto' AS first_name, 'true' AS opt_in FROM generate_series(0, ${rows - 1}) AS i`;
}

function writeJobs(dir: string, trial: string): string[] {
  mkdirSync(dir, { recursive: true });
  return SENDERS.map((sender, i) => {
    const name = `workers_${trial}_s${i}`;
    writeFileSync(join(dir, `${name}.yaml`), `
name: ${name}
source: { query: "SELECT * FROM bench_workers_segment" }
audience: { key: customer_id, phone: phone, default_region: JP, consent: opt_in }
message: { provider: meta, sender: "${sender}", template: { name: welcome_back, language: ja }, body: [ { column: first_name } ] }
delivery: { rate_per_second: ${SENDER_RATE}, concurrency: 128, parts: 4 }
`);
    return name;
  });
}

function startWorker(configFile: string, jobsDir: string): { child: ChildProcess; ready: Promise<void>; exited: Promise<void> } {
  const child = spawn(process.execPath, [BIN, 'worker', '--jobs', jobsDir, '--parts', '4'], {
    env: { ...process.env, HERALD_CONFIG: configFile, HERALD_REDIS_URL: REDIS_URL, HERALD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('claiming parts')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`herald worker exited with ${code}: ${output}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, ready, exited };
}

async function trial(wh: PostgresWarehouse, url: string, server: LocalMetaServer, dir: string, workers: number, rows: number, label: string): Promise<number> {
  const jobsDir = join(dir, label);
  const jobs = writeJobs(jobsDir, label);
  const configFile = join(dir, 'herald.yaml');
  writeFileSync(configFile, `
warehouses: { default: { url: "${url}" } }
providers:
  meta:
    base_url: ${server.origin}
    graph_version: v24.0
    access_token: EAAbench
    senders: { ${SENDERS.map((s) => `"${s}": { rate_per_second: ${SENDER_RATE} }`).join(', ')} }
`);
  const procs = Array.from({ length: workers }, () => startWorker(configFile, jobsDir));
  try {
    await Promise.all(procs.map((p) => p.ready));
    const start = performance.now();
    const runIds = await Promise.all(jobs.map(async (job) => {
      const enqueued = await enqueueRun(wh, { job, runKey: 'bench', dryRun: false, parts: 4 });
      if (!('run_id' in enqueued)) throw new Error(`${job} is busy`);
      return enqueued.run_id;
    }));
    for (;;) {
      const open = await wh.query<{ n: number }>("SELECT count(*) AS n FROM herald.runs WHERE run_id IN (SELECT unnest($1::text[])) AND status IN ('queued', 'running')", [runIds]);
      if (Number(open[0]!.n) === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - start;
    const [landed] = await wh.query<{ accepted: number; runs_ok: number }>(
      "SELECT (SELECT count(*) FROM herald.sends WHERE run_id IN (SELECT unnest($1::text[])) AND status = 'accepted') AS accepted, " +
      "(SELECT count(*) FROM herald.runs WHERE run_id IN (SELECT unnest($1::text[])) AND status = 'succeeded') AS runs_ok", [runIds]);
    if (Number(landed!.accepted) !== rows * SENDERS.length || Number(landed!.runs_ok) !== SENDERS.length) {
      throw new Error(`${label}: ${landed!.accepted} accepted in ${landed!.runs_ok} succeeded runs; expected ${rows * SENDERS.length} in ${SENDERS.length}`);
    }
    return Number(landed!.accepted) / (ms / 1000);
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
  }
}

export async function benchWorkers(rows = 4_000, runs = 3): Promise<BenchResult[]> {
  const server = await LocalMetaServer.start();
  const dir = tempDir();
  try {
    return await withFreshDatabase(async (url) => {
      const wh = await PostgresWarehouse.open(url);
      try {
        await wh.query(segmentDdl(rows));
        const byCount = new Map<number, number[]>();
        for (let run = 0; run < runs; run++) {
          for (const workers of WORKER_COUNTS) {
            const msgPerS = await trial(wh, url, server, dir, workers, rows, `w${workers}_r${run}`);
            console.error(`  ${workers} worker(s), run ${run + 1}: ${Math.round(msgPerS)} msg/s`);
            byCount.set(workers, [...(byCount.get(workers) ?? []), msgPerS]);
          }
        }
        // Target: 90% of the senders' combined cap; the ratio is to one worker's median.
        return WORKER_COUNTS.map((workers) => result({
          name: `scale-out: ${workers} worker process(es), 4 senders × ${SENDER_RATE}/s, PostgreSQL + Redis`,
          unit: 'msg/s', runs: byCount.get(workers)!, target: { op: '>=', value: 0.9 * SENDER_RATE * SENDERS.length },
          baseline: { name: '1 worker', runs: byCount.get(1)! }, notes: { sends_per_trial: rows * SENDERS.length },
        }));
      } finally {
        await wh.close();
      }
    });
  } finally {
    await server.close();
    removeDir(dir);
  }
}

if (isMain(import.meta.url)) {
  const [rows, runs] = process.argv.slice(2).map(Number);
  printTable(await benchWorkers(rows || undefined, runs || undefined));
}
