/**
 * The run API's contract as a workflow depends on it (issue 13), against a real `herald serve` on
 * DuckDB: POST /runs answers 202 at once while a slow segment query has not produced a row, the
 * run's failure ratio and the exit code `herald run` would give (3 over max_failure_ratio),
 * unknown params named against the SQL's own, `created` only for the call that made the run, a
 * 409 that names the run holding the job, "run finished" logged once per run, and the /metrics
 * exposition (HTTP, runs, build info, process defaults, webhook events and redeliveries).
 *
 * The slow segment is held at the warehouse: its query is handed to DuckDB only when the test
 * releases it, so "the answer came before the first row" is a fact of the test, not a race against
 * a timer. (A named pipe did this before; a reader opening the pipe between one write and the
 * writer's close read an empty file, DuckDB's sniffer refused it and the run failed on a loaded CI
 * machine.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { eventSink } from '../../src/events/event.js';
import { createLogger } from '../../src/log.js';
import { JobCatalog } from '../../src/runs/job-catalog.js';
import { RunService } from '../../src/runs/run-service.js';
import { metricsRoute } from '../../src/server/metrics.route.js';
import { runRoutes } from '../../src/server/runs.routes.js';
import { startServe } from '../../src/server/serve.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.warehouse.js';
import { writeJobs } from '../support/jobs-dir.js';
import { APP_SECRET, envelope, messagesChange, signature, status, VERIFY_TOKEN } from '../webhooks/support.js';

const TOKEN = 'contract-token-7d1e';
const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;
const SANDBOX = { latency_ms: 0, max_event_delay_ms: 10, transient_failure_ratio: 0, permanent_failure_ratio: 0 };

interface Answer {
  run_id: string;
  status_url: string;
  status: string;
  created: boolean;
  failure_ratio: number | null;
  exit_code: number | null;
}
interface View extends Answer {
  counts: { audience: number; accepted: number; failed: number };
  error: string | null;
}

/** A serve with the run API over its own in-memory DuckDB, whose pino lines are kept. */
async function herald(dir: string, sandbox: Record<string, unknown>, hold: Promise<void> = Promise.resolve()) {
  const wh = await DuckDbWarehouse.open(':memory:');
  // The segment of the slow job (its SQL names herald_slow) starts only once `hold` resolves.
  const stream = wh.stream.bind(wh);
  wh.stream = async (sql, params, options) => {
    if (sql.includes('herald_slow')) await hold;
    return stream(sql, params, options);
  };
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  const config = {
    config: RuntimeConfigSchema.parse({ providers: { sandbox, meta: { app_secret: APP_SECRET, verify_token: VERIFY_TOKEN } } }), file: 'test', missing: [],
  };
  const stop = new AbortController();
  const service = new RunService({ config, wh, catalog: new JobCatalog(dir, {}), senders: new SenderRegistry(), events: eventSink(() => wh).land, logger, stop: stop.signal });
  const server = await startServe({ config: config.config, wh, logger, port: 0, host: '127.0.0.1', routes: [...runRoutes(service, TOKEN, logger), metricsRoute()] });
  const auth = { authorization: `Bearer ${TOKEN}` };
  return {
    server, lines,
    post: async (body: unknown) => {
      const r = await fetch(`${server.url}/runs`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...auth } });
      return { status: r.status, body: (await r.json()) as Answer & { error?: string } };
    },
    get: async (id: string) => (await (await fetch(`${server.url}/runs/${id}`, { headers: auth })).json()) as View,
    /** Polls GET /runs/:id, as a workflow does, until the run has ended. */
    async ended(id: string): Promise<View> {
      for (;;) {
        const v = await this.get(id);
        if (v.status !== 'running' && v.status !== 'queued') return v;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      stop.abort();
      await service.idle();
      await server.close();
      await wh.close();
    },
  };
}

describe('run API contract (DuckDB)', () => {
  let dir: string;
  let release!: () => void;
  const slowSegment = new Promise<void>((resolve) => (release = resolve));
  let ok: Awaited<ReturnType<typeof herald>>;
  let failing: Awaited<ReturnType<typeof herald>>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-contract-'));
    const jobs = join(dir, 'jobs');
    writeJobs(jobs, 30);
    const job = (name: string, source: string, extra = '') => writeFileSync(join(jobs, `${name}.yaml`), `
name: ${name}
source: ${source}
audience: { key: k, phone: phone, default_region: US, consent: ok }
message: { provider: sandbox, sender: "1555000${name.length}", template: { name: hello, language: en_US }, body: [ { column: name } ] }
${extra}`);
    const values = (n: number) => Array.from({ length: n }, (_, i) => `('k${i}', '${phone(i)}', 'Name ${i}', 'yes')`).join(', ');
    job('slow_api', `{ query: "SELECT * FROM (VALUES ${[0, 1, 2].map((i) => `('s${i}', '${phone(i)}', 'N${i}', 'yes')`).join(', ')}) herald_slow(k, phone, name, ok)" }`);
    job('params_api', `{ query: "SELECT * FROM (VALUES ${values(4)}) t(k, phone, name, ok) WHERE k >= :from_key AND length(name) > :min_len", params: { from_key: k0, min_len: 0 } }`);
    job('strict_api', `{ query: "SELECT * FROM (VALUES ${values(10)}) t(k, phone, name, ok)" }`, 'delivery: { max_failure_ratio: 0.2 }');
    job('lenient_api', `{ query: "SELECT * FROM (VALUES ${values(10)}) t(k, phone, name, ok)" }`);
    ok = await herald(jobs, SANDBOX, slowSegment);
    failing = await herald(jobs, { ...SANDBOX, permanent_failure_ratio: 1 }); // every recipient is undeliverable
  });
  afterAll(async () => {
    await ok?.close();
    await failing?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 202 at once while the segment query has not produced a row; the run goes on and ends', async () => {
    const t0 = performance.now();
    const first = await ok.post({ job: 'slow_api', run_key: 'slow-1' });
    const ms = performance.now() - t0;
    console.info(`POST /runs with a segment query still waiting for its rows: 202 in ${ms.toFixed(0)} ms`);
    expect(first.status).toBe(202);
    expect(ms).toBeLessThan(1000);
    expect(first.body).toMatchObject({ status: 'running', created: true, failure_ratio: null, exit_code: null, status_url: `/runs/${first.body.run_id}` });

    // Polling is answered too, and says running with no outcome yet.
    expect(await ok.get(first.body.run_id)).toMatchObject({ status: 'running', failure_ratio: null, exit_code: null, counts: { audience: 0 } });
    // The same key again: the same run, not made by this call.
    expect((await ok.post({ job: 'slow_api', run_key: 'slow-1' })).body).toMatchObject({ run_id: first.body.run_id, created: false, status: 'running', exit_code: null });
    // Another key of the job meanwhile: 409, naming the run that holds it, in this process.
    const busy = await ok.post({ job: 'slow_api', run_key: 'slow-2' });
    expect(busy.status).toBe(409);
    expect(busy.body.error).toContain('slow-1');
    expect(busy.body.error).toContain(first.body.run_id);
    expect(busy.body.error).not.toMatch(/another process/);

    // The warehouse answers at last.
    release();
    const view = await ok.ended(first.body.run_id);
    expect(view, String(view.error)).toMatchObject({ status: 'succeeded', failure_ratio: 0, exit_code: 0, counts: { accepted: 3 } });
    expect(ok.lines.filter((l) => l.msg === 'run finished' && l.run_id === first.body.run_id)).toHaveLength(1);
  });

  it('created is true for exactly one of concurrent identical POSTs, and false afterwards', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => ok.post({ job: 'welcome_api', run_key: 'once-1' })));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(202));
    expect(new Set(answers.map((a) => a.body.run_id)).size).toBe(1);
    expect(answers.filter((a) => a.body.created)).toHaveLength(1);
    await ok.ended(answers[0]!.body.run_id);
    expect((await ok.post({ job: 'welcome_api', run_key: 'once-1' })).body).toMatchObject({ created: false, status: 'succeeded', exit_code: 0, failure_ratio: 0 });
  });

  it('a run over max_failure_ratio ends succeeded with exit_code 3, as herald run would exit; without a threshold 0', async () => {
    const strict = await failing.post({ job: 'strict_api', run_key: 'f-1' });
    expect(strict.status).toBe(202);
    const s = await failing.ended(strict.body.run_id);
    expect(s).toMatchObject({ status: 'succeeded', failure_ratio: 1, exit_code: 3, counts: { audience: 10, failed: 10 } });
    // The POST of a finished run carries the same outcome.
    expect((await failing.post({ job: 'strict_api', run_key: 'f-1' })).body).toMatchObject({ created: false, failure_ratio: 1, exit_code: 3 });

    const lenient = await failing.post({ job: 'lenient_api', run_key: 'f-2' });
    expect(await failing.ended(lenient.body.run_id)).toMatchObject({ status: 'succeeded', failure_ratio: 1, exit_code: 0 });
  });

  it('unknown params are a 400 naming the parameters the SQL takes; known ones run', async () => {
    const typo = await ok.post({ job: 'params_api', run_key: 'p-1', params: { fromkey: 'k2', min_len: 1 } });
    expect(typo.status).toBe(400);
    expect(typo.body.error).toBe('unknown param "fromkey": the SQL of job params_api takes :from_key, :min_len');
    const none = await ok.post({ job: 'lenient_api', run_key: 'p-2', params: { since: '2026-01-01' } });
    expect(none.status).toBe(400);
    expect(none.body.error).toBe('unknown param "since": the SQL of job lenient_api takes no parameters');

    const right = await ok.post({ job: 'params_api', run_key: 'p-3', params: { from_key: 'k2' } });
    expect(right.status).toBe(202);
    expect(await ok.ended(right.body.run_id)).toMatchObject({ status: 'succeeded', counts: { audience: 2 } }); // k2, k3
  });

  it('a segment query that fails after the answer ends the run failed with the reason (exit_code 1), logged once', async () => {
    writeFileSync(join(dir, 'jobs', 'bad_sql.yaml'), `
name: bad_sql_api
source: { query: "SELECT * FROM no_such_table" }
audience: { key: k, phone: phone, default_region: US, consent: ok }
message: { provider: sandbox, sender: "15550009999", template: { name: hello, language: en_US }, body: [ { column: name } ] }
`);
    const answer = await ok.post({ job: 'bad_sql_api', run_key: 'b-1' });
    expect(answer.status).toBe(202);
    const view = await ok.ended(answer.body.run_id);
    expect(view).toMatchObject({ status: 'failed', exit_code: 1, error: expect.stringContaining('no_such_table') });
    expect(ok.lines.filter((l) => l.msg === 'run finished' && l.run_id === answer.body.run_id)).toHaveLength(1);
  });

  it('exposes HTTP, run, build, process and webhook metrics under their names', async () => {
    const scrape = async () => {
      const text = await (await fetch(`${ok.server.url}/metrics`)).text();
      return {
        text,
        value: (series: string) => {
          const line = text.split('\n').find((l) => l.startsWith(`${series} `));
          return line === undefined ? undefined : Number(line.slice(series.length + 1));
        },
      };
    };
    // The sandbox's own status events are counted too: the webhook's share is the difference.
    const before = await scrape();
    // A status webhook, then the same one redelivered: stored once, the second counted apart.
    const raw = JSON.stringify(envelope([messagesChange({ statuses: [status({ id: 'wamid.metrics1', status: 'read', timestamp: 1767225600, recipient: '12015550100' })] })]));
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${ok.server.url}/webhooks/meta`, { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature(raw) } });
      expect(r.status).toBe(200);
    }
    expect((await fetch(`${ok.server.url}/nowhere`)).status).toBe(404);

    const { text, value } = await scrape();
    const delta = (series: string) => (value(series) ?? 0) - (before.value(series) ?? 0);
    // HTTP: by route pattern (never the run id), method and status class.
    expect(value('herald_http_requests_total{route="/runs",method="POST",status_class="2xx"}')).toBeGreaterThanOrEqual(10);
    expect(value('herald_http_requests_total{route="/runs",method="POST",status_class="4xx"}')).toBe(3); // the 409 and two 400s
    expect(value('herald_http_requests_total{route="/runs/:id",method="GET",status_class="2xx"}')).toBeGreaterThan(0);
    expect(delta('herald_http_requests_total{route="/webhooks/meta",method="POST",status_class="2xx"}')).toBe(2);
    expect(value('herald_http_requests_total{route="unmatched",method="GET",status_class="4xx"}')).toBe(1);
    expect(text).not.toMatch(/route="\/runs\/r_/);
    expect(value('herald_http_request_duration_seconds_count{route="/runs",method="POST",status_class="2xx"}')).toBeGreaterThanOrEqual(10);
    expect(text).toMatch(/herald_http_request_duration_seconds_bucket\{le="0\.1",route="\/runs",method="POST",status_class="2xx"\} \d+/);
    // Runs: by job, status and exit code; duration; last success (exit 0) per job.
    expect(value('herald_runs_total{job="slow_api",status="succeeded",exit_code="0"}')).toBe(1);
    expect(value('herald_runs_total{job="welcome_api",status="succeeded",exit_code="0"}')).toBe(1);
    expect(value('herald_runs_total{job="bad_sql_api",status="failed",exit_code="1"}')).toBe(1);
    expect(value('herald_run_duration_seconds_count{job="slow_api",status="succeeded"}')).toBe(1);
    const lastSuccess = value('herald_run_last_success_timestamp_seconds{job="slow_api"}')!;
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(120);
    // The failing serve shares the process registry: its runs are here too, exit code 3 apart.
    expect(value('herald_runs_total{job="strict_api",status="succeeded",exit_code="3"}')).toBe(1);
    expect(text).not.toContain('herald_run_last_success_timestamp_seconds{job="strict_api"}');
    // Build info, from package.json and the running Node.js.
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(value(`herald_build_info{version="${version}",node="${process.version}"}`)).toBe(1);
    // Default process metrics under the standard names, and the earlier herald_ ones still there.
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_version_info']) {
      expect(text).toMatch(new RegExp(`^${name}[ {]`, 'm'));
    }
    expect(text).toMatch(/^herald_process_resident_memory_bytes /m);
    // Webhook events: stored once, the redelivery apart.
    expect(delta('herald_webhook_events_total{provider="meta",type="read"}')).toBe(1);
    expect(delta('herald_webhook_redeliveries_total{provider="meta",type="read"}')).toBe(1);
  });
});
