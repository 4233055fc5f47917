/**
 * Segment read + normalize + render on 1,000,000 rows of the embedded DuckDB.
 * Target (DESIGN "Performance targets"): ≥ 100,000 rows/s.
 * Baseline, same run: the bare scan of the same rows through the same `wh.stream()` (DuckDB's
 * chunks made into row objects: what any consumer of a segment pays), counting rows. Each run
 * also reports the process's CPU time: on a shared machine the ratio of wall times drifts towards
 * the ratio of CPU times, whatever the pipeline's parallelism.
 * Run alone: `npm run build && node dist/bench/segment-throughput.js [rows] [runs]`.
 */
import { loadavg } from 'node:os';
import { normalize } from '../src/pipeline/normalize.js';
import { render } from '../src/pipeline/render.js';
import { openSegment, segmentRows } from '../src/pipeline/segment.js';
import type { Draft } from '../src/types.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { benchJob, createSegmentDb, isMain, median, printTable, removeDir, result, SEGMENT_SQL, tempDir, writeResults, type BenchResult } from './lib.js';

const TARGET_ROWS_PER_S = 100_000;

/** Wall time, and the process's CPU time (every thread: main, parse workers, DuckDB's). */
interface Timed { rows: number; ms: number; cpuMs: number }

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function timeBaseline(wh: DuckDbWarehouse): Promise<Timed> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const stream = await wh.stream(SEGMENT_SQL, []);
  let rows = 0;
  for await (const chunk of stream.chunks) rows += chunk.length;
  return { rows, ms: performance.now() - start, cpuMs: cpuMsSince(cpu) };
}

async function timePipeline(wh: DuckDbWarehouse): Promise<Timed & { open: number }> {
  const loaded = benchJob('bench_throughput');
  const cpu = process.cpuUsage();
  const start = performance.now();
  const segment = await openSegment(wh, loaded, { sending: true }); // a real run's path: spooled on DuckDB
  const drafts: AsyncIterable<Draft[]> = render(loaded.job, normalize(loaded.job, segmentRows(segment)));
  let rows = 0;
  let open = 0;
  for await (const batch of drafts) {
    rows += batch.length;
    for (const d of batch) if (!d.verdict) open++;
  }
  return { rows, ms: performance.now() - start, cpuMs: cpuMsSince(cpu), open };
}

export async function benchSegmentThroughput(rows = 1_000_000, runs = 3): Promise<BenchResult> {
  const dir = tempDir();
  try {
    const setup = performance.now();
    const path = await createSegmentDb(dir, rows);
    const setupMs = performance.now() - setup;
    const wh = await DuckDbWarehouse.open(path);
    const pipeline: number[] = [];
    const baseline: number[] = [];
    const pipelineCpu: number[] = [];
    const baselineCpu: number[] = [];
    let sendable = 0;
    try {
      for (let i = 0; i < runs; i++) {
        // Interleaved, so drift in the shared machine's load hits both alike.
        const b = await timeBaseline(wh);
        if (b.rows !== rows) throw new Error(`baseline read ${b.rows} rows, expected ${rows}`);
        baseline.push(rows / (b.ms / 1000));
        baselineCpu.push(b.cpuMs);
        const p = await timePipeline(wh);
        if (p.rows !== rows) throw new Error(`pipeline read ${p.rows} rows, expected ${rows}`);
        pipeline.push(rows / (p.ms / 1000));
        pipelineCpu.push(p.cpuMs);
        sendable = p.open;
        // CPU time beside wall time: on a shared machine the wall time says as much about the others.
        console.error(`  run ${i + 1}/${runs}: scan ${Math.round(b.ms)} ms (cpu ${Math.round(b.cpuMs)}), ` +
          `read+normalize+render ${Math.round(p.ms)} ms (cpu ${Math.round(p.cpuMs)}), load ${loadavg()[0]!.toFixed(2)}`);
      }
    } finally {
      await wh.close();
    }
    return result({
      name: `segment read + normalize + render (${rows.toLocaleString('en-US')} rows)`,
      unit: 'rows/s',
      target: { op: '>=', value: TARGET_ROWS_PER_S },
      runs: pipeline,
      baseline: { name: 'bare DuckDB scan via wh.stream()', runs: baseline },
      notes: {
        rows, segment_build_ms: Math.round(setupMs), rows_left_to_send: sendable,
        // What the ratio tends to when other processes hold the cores: CPU per row, scan over pipeline.
        cpu_ms_median: Math.round(median(pipelineCpu)), baseline_cpu_ms_median: Math.round(median(baselineCpu)),
        cpu_ratio: Number((median(baselineCpu) / median(pipelineCpu)).toFixed(3)),
      },
    });
  } finally {
    removeDir(dir);
  }
}

if (isMain(import.meta.url)) {
  const [rows, runs] = process.argv.slice(2).map(Number);
  const r = await benchSegmentThroughput(rows || undefined, runs || undefined);
  printTable([r]);
  writeResults([r]);
}
