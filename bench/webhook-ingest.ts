/**
 * Webhook ingest into PostgreSQL (DESIGN "Performance targets"): signed Meta status webhooks from
 * autocannon on loopback into `herald serve` (its own process, its own fresh database), with
 * one status per POST (targets ≥ 5,000 events/s, median ≤ 25 ms, p99 ≤ 250 ms) and 100 statuses
 * per POST (≥ 50,000 events/s). Each is measured beside a bare node:http server that answers 200
 * without work, alternating in the same run. Every body is distinct (no deduplication helps) and
 * signed beforehand (the generator spends its CPU on sending). After the runs, the events in the
 * database are counted against the 2xx answers. Beside the rates, the CPU each side spent per
 * request (the server process; the PostgreSQL backends serving the bench database) is noted: on a
 * shared machine it moves far less than the rates do. The bare server reads the whole body into
 * memory before it answers, as any receiver must to check a signature.
 * Run alone: `npm run build && node dist/bench/webhook-ingest.js [runs] [seconds]`.
 * BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test) names the server; the database
 * herald_bench_<random> is created and dropped. BENCH_PROFILE=1 writes a CPU profile of the
 * herald server process to <os.tmpdir()>/herald-bench/. BENCH_STATUSES_PER_POST=1 (or 100) runs that
 * scenario alone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { isMain, median, printTable, result, withFreshDatabase, writeResults, type BenchResult } from './lib.js';

const APP_SECRET = 'bench-app-secret';

interface Scenario {
  label: string;
  statusesPerPost: number;
  connections: number;
}

const SCENARIOS: Scenario[] = [
  { label: '1 status per POST', statusesPerPost: 1, connections: 100 },
  { label: '100 statuses per POST', statusesPerPost: 100, connections: 16 },
];

interface Run {
  reqPerSec: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  ok: number;
  /** CPU µs per 2xx request: the server process, and PostgreSQL's backends for the bench database. */
  serverCpuUs: number;
  pgCpuUs: number;
}

/** Signed bodies, each status id unique across the whole bench. */
function bodies(count: number, perPost: number, tag: string): { body: string; sig: string }[] {
  const t = String(Math.floor(Date.now() / 1000));
  const out: { body: string; sig: string }[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const statuses = [];
    for (let j = 0; j < perPost; j++) {
      statuses.push({ id: `wamid.${tag}.${i}.${j}`, status: j % 3 === 0 ? 'sent' : j % 3 === 1 ? 'delivered' : 'read', timestamp: t, recipient_id: `8190${String(10_000_000 + ((i * perPost + j) % 9_999_999))}` });
    }
    const body = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' }, statuses } }] }],
    });
    out[i] = { body, sig: `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}` };
  }
  return out;
}

async function startServer(mode: 'bare' | 'herald', pgUrl: string): Promise<{ port: number; child: ChildProcess }> {
  const profileDir = join(tmpdir(), 'herald-bench');
  mkdirSync(profileDir, { recursive: true });
  const execArgv = process.env.BENCH_PROFILE === '1' && mode === 'herald' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = fork(new URL('./webhook-server.js', import.meta.url), [mode, pgUrl, APP_SECRET], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  return { port, child };
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send('stop');
  await exited;
}

/** The server process's CPU time so far, in µs (it answers the IPC message "cpu"). */
function serverCpu(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      if (typeof (m as { cpu?: unknown }).cpu !== 'number') return;
      child.off('message', on);
      resolve((m as { cpu: number }).cpu);
    };
    child.on('message', on);
    child.send('cpu');
  });
}

/**
 * CPU µs used so far by the PostgreSQL backends connected to `database` (Linux /proc; 0 elsewhere).
 * Backends that exit between two readings take their time with them: the pool keeps its
 * connections through a run, so this undercounts only what happens between runs.
 */
function pgBackendCpu(database: string): number {
  let ticks = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(` ${database} `)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10_000; // USER_HZ is 100 on Linux
}

async function load(server: { port: number; child: ChildProcess }, database: string, s: Scenario, seconds: number, signed: { body: string; sig: string }[]): Promise<Run> {
  const cpu0 = await serverCpu(server.child);
  const pg0 = pgBackendCpu(database);
  let next = 0;
  const r = await autocannon({
    url: `http://127.0.0.1:${server.port}/webhooks/meta`,
    connections: s.connections,
    duration: seconds,
    requests: [{
      method: 'POST',
      setupRequest: (req) => {
        const b = signed[next++ % signed.length]!;
        return { ...req, body: b.body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': b.sig } };
      },
    }],
  });
  const ok = r['2xx'];
  const cpu = await serverCpu(server.child) - cpu0;
  const pgCpu = pgBackendCpu(database) - pg0;
  return {
    reqPerSec: ok / seconds, eventsPerSec: (ok * s.statusesPerPost) / seconds,
    p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx + r.errors + r.timeouts, ok,
    serverCpuUs: cpu / Math.max(1, ok), pgCpuUs: pgCpu / Math.max(1, ok),
  };
}

export async function benchWebhookIngest(runs = 3, seconds = 8): Promise<BenchResult[]> {
  return withFreshDatabase(async (pgUrl) => {
    const database = new URL(pgUrl).pathname.slice(1);
    const results: BenchResult[] = [];
    const herald = await startServer('herald', pgUrl);
    const bare = await startServer('bare', pgUrl);
    let landedExpected = 0;
    try {
      const only = Number(process.env.BENCH_STATUSES_PER_POST) || null;
      for (const s of SCENARIOS.filter((x) => only === null || x.statusesPerPost === only)) {
        // Enough distinct bodies that none repeats within a run at several times the target rate.
        const perRun = Math.ceil((s.statusesPerPost === 1 ? 25_000 : 1_200) * seconds);
        const heraldRuns: Run[] = [];
        const loads: number[] = [];
        const bareRuns: Run[] = [];
        // A short warm-up of each (JIT, connection pool), not counted.
        await load(bare, database, s, 1, bodies(2_000, s.statusesPerPost, `w${s.statusesPerPost}b`));
        const warm = await load(herald, database, s, 1, bodies(s.statusesPerPost === 1 ? 20_000 : 1_000, s.statusesPerPost, `w${s.statusesPerPost}h`));
        landedExpected += warm.ok * s.statusesPerPost;
        for (let i = 0; i < runs; i++) {
          const signed = bodies(perRun, s.statusesPerPost, `r${s.statusesPerPost}.${i}`);
          bareRuns.push(await load(bare, database, s, seconds, signed));
          const h = await load(herald, database, s, seconds, signed);
          heraldRuns.push(h);
          loads.push(Number(loadavg()[0]!.toFixed(2)));
          landedExpected += h.ok * s.statusesPerPost;
          console.error(`  ${s.label} run ${i + 1}: herald ${Math.round(h.eventsPerSec)} events/s (${Math.round(h.reqPerSec)} req/s, p50 ${h.p50} ms, p99 ${h.p99} ms, non-2xx ${h.non2xx}); ` +
            `bare ${Math.round(bareRuns[i]!.reqPerSec)} req/s (p50 ${bareRuns[i]!.p50} ms); CPU µs per request: herald ${Math.round(h.serverCpuUs)} + PostgreSQL ${Math.round(h.pgCpuUs)}, ` +
            `bare ${Math.round(bareRuns[i]!.serverCpuUs)}; load average ${loadavg()[0]!.toFixed(2)}`);
        }
        const base = { name: 'bare node:http, same load', runs: bareRuns.map((r) => r.eventsPerSec) };
        const notes = {
          connections: s.connections, seconds, statuses_per_post: s.statusesPerPost,
          herald_req_per_s: heraldRuns.map((r) => Math.round(r.reqPerSec)), herald_p50_ms: heraldRuns.map((r) => r.p50), herald_p99_ms: heraldRuns.map((r) => r.p99),
          herald_non2xx: heraldRuns.map((r) => r.non2xx), bare_p50_ms: bareRuns.map((r) => r.p50), bare_p99_ms: bareRuns.map((r) => r.p99),
          herald_cpu_us_per_request: heraldRuns.map((r) => Math.round(r.serverCpuUs)), postgres_cpu_us_per_request: heraldRuns.map((r) => Math.round(r.pgCpuUs)),
          bare_cpu_us_per_request: bareRuns.map((r) => Math.round(r.serverCpuUs)), load_average: loads,
        };
        if (s.statusesPerPost === 1) {
          results.push(result({ name: `webhook ingest into PostgreSQL, ${s.label}`, unit: 'events/s', target: { op: '>=', value: 5_000 }, runs: heraldRuns.map((r) => r.eventsPerSec), baseline: base, notes }));
          results.push(result({ name: `webhook ingest, ${s.label}: median latency`, unit: 'ms', target: { op: '<=', value: 25 }, runs: heraldRuns.map((r) => r.p50), baseline: { name: 'bare node:http', runs: bareRuns.map((r) => r.p50) } }));
          results.push(result({ name: `webhook ingest, ${s.label}: p99 latency`, unit: 'ms', target: { op: '<=', value: 250 }, runs: heraldRuns.map((r) => r.p99), baseline: { name: 'bare node:http', runs: bareRuns.map((r) => r.p99) } }));
        } else {
          results.push(result({ name: `webhook ingest into PostgreSQL, ${s.label}`, unit: 'events/s', target: { op: '>=', value: 50_000 }, runs: heraldRuns.map((r) => r.eventsPerSec), baseline: base, notes }));
        }
      }
    } finally {
      await stopServer(bare.child);
      await stopServer(herald.child);
    }
    // Every 2xx was a stored event: the database holds exactly what was answered 200.
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM herald.events');
    await client.end();
    const landed = Number(rows[0]!.n);
    console.error(`  events in herald.events: ${landed}; answered 200 for ${landedExpected}`);
    for (const r of results) if (r.notes) r.notes.events_landed_vs_answered = `${landed} / ${landedExpected}`;
    if (landed < landedExpected) throw new Error(`only ${landed} events stored for ${landedExpected} answered 200`);
    return results;
  });
}

if (isMain(import.meta.url)) {
  const [runs, seconds] = process.argv.slice(2).map(Number);
  const r = await benchWebhookIngest(runs || undefined, seconds || undefined);
  printTable(r);
  writeResults(r);
  console.error(`medians: ${r.map((x) => `${x.name} ${Math.round(median(x.runs))} ${x.unit}`).join('; ')}`);
}
