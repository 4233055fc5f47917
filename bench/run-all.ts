/**
 * Runs every benchmark in turn (`npm run bench`), prints one table, and writes the results with
 * the machine's description to <os.tmpdir()>/herald-bench/latest.json. Targets: DESIGN
 * "Performance targets"; the committed write-up is BENCHMARKS.md.
 * Runs and rows can be lowered for a quick look: BENCH_QUICK=1 npm run bench.
 */
import { availableParallelism, cpus, totalmem } from 'node:os';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { benchDispatchThroughput } from './dispatch-throughput.js';
import { benchFirstSend } from './first-send.js';
import { duckdbPackageVersion, printTable, RESULTS_FILE, writeResults, type BenchResult } from './lib.js';
import { benchMemory } from './memory.js';
import { benchPacing } from './pacing.js';
import { runRedisWindowBench } from './redis-window.js';
import { benchReport } from './report.js';
import { benchSegmentThroughput } from './segment-throughput.js';
import { benchSenderPacing } from './sender-pacing.js';
import { benchWebhookIngest } from './webhook-ingest.js';

async function duckdbVersion(): Promise<string> {
  const wh = await DuckDbWarehouse.open(':memory:');
  try {
    const [row] = await wh.query<{ v: string }>('SELECT version() AS v');
    return row?.v ?? 'unknown';
  } finally {
    await wh.close();
  }
}

const quick = process.env.BENCH_QUICK === '1';
const machine = {
  cpus: availableParallelism(),
  cpu_model: cpus()[0]?.model ?? 'unknown',
  memory_gb: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  duckdb: await duckdbVersion(),
  duckdb_node_api: duckdbPackageVersion(),
  date: new Date().toISOString(),
};
console.error('machine', machine);

const started = performance.now();
const results: BenchResult[] = [];
const step = async (label: string, bench: () => Promise<BenchResult>) => {
  console.error(`\n${label}`);
  const t = performance.now();
  results.push(await bench());
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
};

await step('segment read + normalize + render', () => benchSegmentThroughput(quick ? 200_000 : 1_000_000, quick ? 1 : 3));
await step('time to first send', () => benchFirstSend(quick ? 200_000 : 1_000_000, quick ? 2 : 5));
// Issue 14: `herald run` spawned as the user runs it, to the first arrival at a Meta stand-in, beside a bare undici client; table and CSV: ~3 minutes.
await step('time to first send from the CLI', async () => (await import('./cli-first-send.js')).benchCliFirstSend(quick ? 200_000 : 1_000_000, quick ? 2 : 5, !quick));
// Three runs for a median: each takes ~40 s on the 2-core bench machine.
await step('peak RSS of a dry run (child processes)', () => benchMemory(quick ? 200_000 : 2_000_000, quick ? 1 : 3));
// Issue 14: a real send of the same segment (every row in flight, accepted, settled; limiter out of the way): ~6 minutes for 2M rows.
await step('peak RSS of a real send (child process)', () => benchMemory(quick ? 200_000 : 2_000_000, 1, true));
// `herald report`'s queries (run_funnel, reasons) over one run of 1,000,000 sends with 2.3M events,
// built by SQL in DuckDB, then in a fresh PostgreSQL database (BENCH_PG_URL, as below): ~3 minutes,
// half of it building the PostgreSQL data.
{
  console.error('\nreport queries at scale (run_funnel, reasons)');
  const t = performance.now();
  results.push(...(await benchReport(quick ? 200_000 : 1_000_000, quick ? 1 : 3)));
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
// One bench, four results (1 status per POST: throughput, median and p99 latency; 100 per POST: throughput).
// About 2 minutes; needs PostgreSQL (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test).
{
  console.error('\nwebhook ingest into PostgreSQL');
  const t = performance.now();
  results.push(...(await benchWebhookIngest(quick ? 1 : 3, quick ? 4 : 8)));
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
// Pacing: 5/s for 10 s, 80/s and 1,000/s for 6 s each, then 80/s with a stall, herald and p-queue each: ~60 s.
{
  console.error('\npacing accuracy (herald limiter beside p-queue strict)');
  const t = performance.now();
  results.push(...(await benchPacing(1)));
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
// The shared window across processes in Redis: herald's Lua sliding log beside rate-limiter-flexible: ~40 s.
{
  console.error('\nshared sender window in Redis (two clients, cap 80)');
  const t = performance.now();
  results.push(...(await runRedisWindowBench()));
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
// Sender pacing at arrival against strict stand-ins (Meta 5/80/1,000/s alone and beside a CPU hog,
// Infobip 80/s, 2 and 4 processes with Redis and with the PostgreSQL lease): ~5 minutes, ~2 quick.
{
  console.error('\nsender pacing at the provider (arrivals at a strict stand-in, 150 ms ± 30)');
  const t = performance.now();
  results.push(...(await benchSenderPacing({ runs: quick ? 1 : 3 })));
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
// Issue 14: herald run through the CLI against the strict stand-in at 150 and 300 ms, beside a bare
// undici loop (% of 1,000/s, CPU per 1,000 messages; 80/s on DuckDB against PostgreSQL): ~10 minutes, ~3 quick.
{
  console.error('\nsending through the CLI at real latency (herald run beside a bare undici loop)');
  const t = performance.now();
  results.push(...(await (await import('./cli-send.js')).benchCliSend({ quick })));
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
// Dispatch throughput against a local Meta server (child process), DuckDB then PostgreSQL: ~2 minutes.
{
  console.error('\ndispatch throughput (meta → local server, outcomes landed)');
  const t = performance.now();
  results.push(...(await benchDispatchThroughput(quick ? 5_000 : 20_000, quick ? 1 : 3, quick ? 3_000 : 6_000)));
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}

// Issue 15: 1, 2 and 3 runs at once inside one herald serve on a DuckDB file at default settings, ~5 minutes.
{
  console.error('\nconcurrent runs inside one herald serve on DuckDB (peak RSS, each run\'s rate)');
  const t = performance.now();
  results.push(...(await (await import('./concurrent-serve.js')).benchConcurrentServe(quick ? 800 : 2400, 80, quick ? 1 : 3)));
  console.error(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
results.push(...(await (await import('./workers.js')).benchWorkers(quick ? 1_000 : 4_000, quick ? 1 : 3))); // scale-out: 1, 2, 4 worker processes, ~2 minutes

printTable(results);
writeResults(results, { machine, total_s: Math.round((performance.now() - started) / 1000) });
console.error(`results: ${RESULTS_FILE}`);
