/**
 * Issue 15: several runs at once inside one `herald serve` on the embedded default (a DuckDB file,
 * memory_limit 128MB, nothing tuned). For 1, 2 and 3 runs of different jobs started together
 * through the run API (the built CLI in a child process, the sandbox provider): the process's peak
 * RSS (VmHWM), the peak over an idle serve, and each run's rate (rows settled / its own duration)
 * against the same run alone. Each job asks for RATE msg/s from its own sender, a rate the two
 * cores hold for three runs at once, so a shortfall would be one run slowing the others.
 *
 * Run alone: `npm run build && node dist/bench/concurrent-serve.js [rows per run] [rate] [repeats]` (2,400, 80, 3).
 * Linux only (/proc/<pid>/status).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { isMain, printTable, removeDir, result, tempDir, type BenchResult } from './lib.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'herald.js');
const CONFIG = join(import.meta.dirname, '..', '..', 'config', 'herald.yaml');
const TOKEN = 'bench-concurrent-serve';
const COUNTS = [1, 2, 3];

interface Sample {
  runs: number;
  idleKb: number;
  peakKb: number;
  /** Each run's settled rows per second of its own duration. */
  rates: number[];
}

function vmKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

async function once(n: number, rows: number, rate: number): Promise<Sample> {
  const dir = tempDir();
  const file = join(dir, 'warehouse.duckdb');
  const wh = await DuckDbWarehouse.open(file);
  await wh.query(`CREATE TABLE audience AS SELECT i, 'c' || i AS customer_id, '+1' || CAST(2015550000 + i AS VARCHAR) AS phone, 'Name ' || i AS first_name, true AS opt_in FROM range(${rows * n}) t(i)`);
  await wh.close();
  mkdirSync(join(dir, 'jobs'));
  for (let j = 0; j < n; j++) {
    writeFileSync(join(dir, 'jobs', `job_${j}.yaml`), `
name: job_${j}
source: { query: "SELECT customer_id, phone, first_name, opt_in FROM audience WHERE i >= ${j * rows} AND i < ${(j + 1) * rows}" }
audience: { key: customer_id, phone: phone, default_region: US, consent: opt_in }
message: { provider: sandbox, sender: "1555000${j}000", template: { name: hello, language: en_US }, body: [ { column: first_name } ] }
delivery: { rate_per_second: ${rate} }
`);
  }
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--jobs', join(dir, 'jobs')], {
    env: { ...process.env, HERALD_CONFIG: CONFIG, HERALD_WAREHOUSE_URL: `duckdb:${file}`, HERALD_API_TOKEN: TOKEN, HERALD_LOG_LEVEL: 'info', HERALD_SANDBOX_RATE: '1000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  try {
    let url: string | undefined;
    while (!url) {
      await new Promise((r) => setTimeout(r, 100));
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${output}`);
      const line = output.split('\n').find((l) => l.includes('"msg":"herald serve listening"'));
      if (line) url = (JSON.parse(line) as { url: string }).url;
    }
    await new Promise((r) => setTimeout(r, 1000));
    const idleKb = vmKb(child.pid!, 'VmRSS');
    const api = async (method: string, path: string, body?: unknown) => (await fetch(`${url}${path}`, {
      method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
    })).json() as Promise<Record<string, unknown>>;
    const started = await Promise.all(Array.from({ length: n }, (_, j) => api('POST', '/runs', { job: `job_${j}`, run_key: 'bench' })));
    let views: Record<string, unknown>[] = [];
    do {
      await new Promise((r) => setTimeout(r, 500));
      views = await Promise.all(started.map((s) => api('GET', `/runs/${String(s.run_id)}`)));
    } while (views.some((v) => v.status === 'running' || v.status === 'queued'));
    const failed = views.find((v) => v.status !== 'succeeded');
    if (failed) throw new Error(`a run ended ${String(failed.status)}: ${String(failed.error)}`);
    const rates = views.map((v) => {
      const c = v.counts as Record<string, number>;
      return (c.accepted! + c.failed!) / ((Date.parse(String(v.finished_at)) - Date.parse(String(v.started_at))) / 1000);
    });
    return { runs: n, idleKb, peakKb: vmKb(child.pid!, 'VmHWM'), rates };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    removeDir(dir);
  }
}

export async function benchConcurrentServe(rows = 2400, rate = 80, repeats = 3): Promise<BenchResult[]> {
  const samples: Sample[] = [];
  for (let r = 0; r < repeats; r++) {
    for (const n of COUNTS) {
      const s = await once(n, rows, rate);
      samples.push(s);
      console.error(`  ${n} run(s): peak RSS ${(s.peakKb / 1024).toFixed(0)} MB (idle ${(s.idleKb / 1024).toFixed(0)} MB), rates ${s.rates.map((x) => x.toFixed(1)).join(' / ')} msg/s`);
    }
  }
  const of = (n: number) => samples.filter((s) => s.runs === n);
  const alone = of(1).map((s) => s.rates[0]!);
  return COUNTS.flatMap((n) => [
    result({
      name: `serve on DuckDB: peak RSS over idle, ${n} concurrent run(s) of ${rows} rows`, unit: 'MB',
      // herald run's 2M-row dry run target is 300 MB; three concurrent runs should stay near it.
      target: { op: '<=', value: 300 }, runs: of(n).map((s) => (s.peakKb - s.idleKb) / 1024),
      notes: { idle_mb: of(n).map((s) => Math.round(s.idleKb / 1024)), peak_mb: of(n).map((s) => Math.round(s.peakKb / 1024)) },
    }),
    result({
      name: `serve on DuckDB: slowest run's rate, ${n} concurrent run(s) at ${rate}/s each`, unit: 'msg/s',
      // A run at most 5% slower than the same run alone.
      target: { op: '>=', value: 0.95 * (alone.sort((a, b) => a - b)[alone.length >> 1] ?? rate) },
      runs: of(n).map((s) => Math.min(...s.rates)), baseline: { name: 'the same run alone', runs: alone },
    }),
  ]);
}

if (isMain(import.meta.url)) {
  const [rows, rate, repeats] = process.argv.slice(2).map(Number);
  printTable(await benchConcurrentServe(rows || undefined, rate || undefined, repeats || undefined));
}
