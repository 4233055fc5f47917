/**
 * Time to first send on a 1,000,000-row segment of the embedded DuckDB.
 * Target (DESIGN "Performance targets"): ≤ 1 s, streamed, not loaded.
 * Measured from just before `runJob` is called to the stub provider's first `send()`; the stub
 * accepts at once and stops the run (the `stop` signal) after 200 sends, at 1,000 msg/s.
 * Each run is its own job name, so no run's sends dedupe the next run's rows.
 * Run alone: `npm run build && node dist/bench/first-send.js [rows] [runs]`.
 */
import { SenderRegistry } from '../src/dispatch/senders.js';
import { silentLogger } from '../src/log.js';
import { runJob } from '../src/pipeline/run-job.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { benchJob, createSegmentDb, isMain, printTable, removeDir, result, StubProvider, tempDir, writeResults, type BenchResult } from './lib.js';

const TARGET_MS = 1000;
const SENDS_BEFORE_STOP = 200;

async function timeFirstSend(wh: DuckDbWarehouse, jobName: string): Promise<{ firstSendMs: number; totalMs: number; status: string; accepted: number }> {
  const stop = new AbortController();
  const provider = new StubProvider((count) => {
    if (count >= SENDS_BEFORE_STOP) stop.abort();
  });
  const start = performance.now();
  const summary = await runJob({
    loaded: benchJob(jobName, 1000), wh, provider, senders: new SenderRegistry(), logger: silentLogger, stop: stop.signal,
  });
  const totalMs = performance.now() - start;
  if (provider.firstSendAt === null) throw new Error(`no send happened (run ${summary.status}: ${summary.error})`);
  return { firstSendMs: provider.firstSendAt - start, totalMs, status: summary.status, accepted: summary.counts.accepted };
}

export async function benchFirstSend(rows = 1_000_000, runs = 5): Promise<BenchResult> {
  const dir = tempDir();
  try {
    const path = await createSegmentDb(dir, rows);
    const wh = await DuckDbWarehouse.open(path);
    const times: number[] = [];
    const totals: number[] = [];
    try {
      for (let i = 0; i < runs; i++) {
        const r = await timeFirstSend(wh, `bench_first_send_${i + 1}`);
        times.push(r.firstSendMs);
        totals.push(r.totalMs);
        console.error(`  run ${i + 1}/${runs}: first send after ${r.firstSendMs.toFixed(1)} ms; run ${r.status} after ${Math.round(r.totalMs)} ms, ${r.accepted} accepted`);
      }
    } finally {
      await wh.close();
    }
    return result({
      name: `time to first send (${rows.toLocaleString('en-US')}-row segment)`,
      unit: 'ms',
      target: { op: '<=', value: TARGET_MS },
      runs: times,
      notes: { rows, sends_before_stop: SENDS_BEFORE_STOP, rate_per_second: 1000, run_total_ms: totals.map(Math.round) },
    });
  } finally {
    removeDir(dir);
  }
}

if (isMain(import.meta.url)) {
  const [rows, runs] = process.argv.slice(2).map(Number);
  const r = await benchFirstSend(rows || undefined, runs || undefined);
  printTable([r]);
  writeResults([r]);
}
