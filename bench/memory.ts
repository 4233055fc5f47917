/**
 * Peak memory of a dry run (`runJob({ dryRun: true })`) over a 2,000,000-row segment of the
 * embedded DuckDB: every row is decided and 2M `planned` rows land in herald.sends.
 * Target (DESIGN "Performance targets"): ≤ 300 MB RSS.
 * Each run is a child process (`node dist/bench/memory.js --child <db> <rows>`) on a fresh copy of
 * the segment file, so its RSS is its own, set up as `herald run` sets itself up (the CLI's heap
 * tuning, the DuckDB defaults); the child samples `process.memoryUsage().rss` every
 * 50 ms while runJob runs and reports that peak, `process.resourceUsage().maxRSS` (the whole
 * child, wh.close() included), duration and rows/s.
 * A real send (`--send`, and one run in `npm run bench`): the same segment sent, not planned —
 * every sendable row written in flight, handed to a provider that accepts it after 2 ms, and settled
 * — with the limiter out of the way (100,000/s, as bench/dispatch-throughput does), so 2M rows take
 * minutes instead of the 33 minutes they would at 1,000/s; memory is per row, not per second.
 * Run alone: `npm run build && node dist/bench/memory.js [rows] [runs] [--send]`.
 */
import { spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlidingWindowLimiter } from '../src/dispatch/limiter.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import type { OutboundMessage, SendOutcome } from '../src/providers/provider.js';
import { silentLogger } from '../src/log.js';
import { runJob } from '../src/pipeline/run-job.js';
import { tuneHeapForStreaming } from '../src/util/heap-tuning.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { benchJob, createSegmentDb, FixedSenderRegistry, isMain, median, printTable, removeDir, result, StubProvider, tempDir, writeResults, type BenchResult } from './lib.js';

const TARGET_MB = 300;
const MB = 1024 * 1024;

/** Accepts each message 2 ms after it is sent: sends overlap as they do against a provider. */
class SlowStubProvider extends StubProvider {
  override async send(message: OutboundMessage): Promise<SendOutcome> {
    await new Promise((resolve) => setTimeout(resolve, 2));
    return super.send(message);
  }
}

interface ChildReport {
  rows: number;
  ms: number;
  planned: number;
  accepted: number;
  status: string;
  /** Before runJob: node, the modules and the open DuckDB. */
  idleRssMb: number;
  /** Highest 50 ms sample while runJob ran. */
  peakRunRssMb: number;
  peakHeapUsedMb: number;
  /** The kernel's high-water mark for the whole child, including wh.close() (DuckDB's checkpoint). */
  maxRssMb: number;
}

async function child(path: string, rows: number, send: boolean): Promise<ChildReport> {
  tuneHeapForStreaming(); // as the CLI's main() does
  const wh = await DuckDbWarehouse.open(path);
  const idleRss = process.memoryUsage().rss;
  let peakRss = idleRss;
  let peakHeap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const timer = setInterval(sample, 50);
  const start = performance.now();
  const summary = await runJob(send
    ? { loaded: benchJob('bench_memory'), wh, provider: new SlowStubProvider(), senders: new FixedSenderRegistry(new SlidingWindowLimiter(100_000)), logger: silentLogger }
    : { loaded: benchJob('bench_memory'), wh, provider: new StubProvider(), senders: new SenderRegistry(), logger: silentLogger, dryRun: true });
  const ms = performance.now() - start;
  sample();
  clearInterval(timer);
  await wh.close();
  return {
    rows, ms, planned: summary.counts.planned, accepted: summary.counts.accepted, status: summary.status,
    idleRssMb: idleRss / MB, peakRunRssMb: peakRss / MB, peakHeapUsedMb: peakHeap / MB,
    maxRssMb: process.resourceUsage().maxRSS / 1024, // maxRSS is in KiB
  };
}

function runChild(path: string, rows: number, send: boolean): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', path, String(rows), send ? 'send' : 'dry'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`memory child exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildReport);
    });
  });
}

export async function benchMemory(rows = 2_000_000, runs = 2, send = false): Promise<BenchResult> {
  const dir = tempDir();
  try {
    const template = await createSegmentDb(dir, rows, 'template.duckdb');
    const reports: ChildReport[] = [];
    for (let i = 0; i < runs; i++) {
      const path = join(dir, `run${i + 1}.duckdb`);
      copyFileSync(template, path);
      const r = await runChild(path, rows, send);
      if (r.status !== 'succeeded') throw new Error(`${send ? 'send' : 'dry run'} ended ${r.status}`);
      reports.push(r);
      console.error(`  run ${i + 1}/${runs}: ${Math.round(r.ms)} ms, ${send ? `${r.accepted} accepted` : `${r.planned} planned`}; RSS idle ${r.idleRssMb.toFixed(0)} MB, ` +
        `peak sampled during run ${r.peakRunRssMb.toFixed(0)} MB, maxRSS ${r.maxRssMb.toFixed(0)} MB, peak heap ${r.peakHeapUsedMb.toFixed(0)} MB`);
      removeDir(path);
    }
    const pick = (f: (r: ChildReport) => number) => median(reports.map(f));
    return result({
      name: `peak RSS, ${send ? 'real send' : 'dry run'} of ${rows.toLocaleString('en-US')}-row segment`,
      unit: 'MB',
      target: { op: '<=', value: TARGET_MB },
      // The peak is maxRSS: 50 ms samples can miss a spike, and it covers wh.close() (DuckDB's checkpoint).
      runs: reports.map((r) => r.maxRssMb),
      notes: {
        rows,
        peak_rss_during_run_mb: reports.map((r) => Math.round(r.peakRunRssMb)),
        idle_rss_mb: reports.map((r) => Math.round(r.idleRssMb)),
        peak_heap_used_mb: reports.map((r) => Math.round(r.peakHeapUsedMb)),
        duration_ms_median: Math.round(pick((r) => r.ms)),
        rows_per_s_median: Math.round(pick((r) => rows / (r.ms / 1000))),
        planned: reports[0]?.planned,
        accepted: reports[0]?.accepted,
      },
    });
  } finally {
    removeDir(dir);
  }
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const report = await child(args[1]!, Number(args[2]), args[3] === 'send');
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    const [rows, runs] = args.filter((a) => !a.startsWith('--')).map(Number);
    const r = await benchMemory(rows || undefined, runs || undefined, args.includes('--send'));
    printTable([r]);
    writeResults([r]);
  }
}
