/**
 * The run API as a workflow uses it, against a real `herald serve` on 127.0.0.1: auth, bad
 * requests, unknown and invalid jobs, idempotency under 20 identical concurrent POSTs, polling to
 * the end, and /metrics.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { eventSink } from '../../src/events/event.js';
import { silentLogger } from '../../src/log.js';
import { JobCatalog } from '../../src/runs/job-catalog.js';
import { RunService } from '../../src/runs/run-service.js';
import { metricsRoute } from '../../src/server/metrics.route.js';
import { runRoutes } from '../../src/server/runs.routes.js';
import { startServe, type ServeHandle } from '../../src/server/serve.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.warehouse.js';
import { RUNS } from '../../src/warehouse/tables.js';
import { writeJobs } from '../support/jobs-dir.js';

const TOKEN = 'test-api-token-0f3b';
describe('run API', () => {
  let dir: string;
  let wh: DuckDbWarehouse;
  let server: ServeHandle;
  let service: RunService;
  const stop = new AbortController();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-runapi-'));
    writeJobs(join(dir, 'jobs'), 30);
    wh = await DuckDbWarehouse.open(':memory:');
    const config = { config: RuntimeConfigSchema.parse({ providers: { sandbox: { latency_ms: 0, max_event_delay_ms: 10 } } }), file: 'test', missing: [] };
    service = new RunService({
      config, wh, catalog: new JobCatalog(join(dir, 'jobs'), {}), senders: new SenderRegistry(),
      events: eventSink(() => wh).land, logger: silentLogger, stop: stop.signal,
    });
    server = await startServe({
      config: config.config, wh, logger: silentLogger, port: 0, host: '127.0.0.1',
      routes: [...runRoutes(service, TOKEN, silentLogger), metricsRoute()],
    });
  });
  afterAll(async () => {
    stop.abort();
    await service.idle();
    await server.close();
    await wh.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: unknown, token: string | null = TOKEN) => fetch(`${server.url}/runs`, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });

  it('refuses a missing or wrong token, a malformed body, an unknown or invalid job', async () => {
    expect((await post({ job: 'welcome_api', run_key: 'a' }, null)).status).toBe(401);
    expect((await post({ job: 'welcome_api', run_key: 'a' }, 'wrong')).status).toBe(401);
    const notJson = await post('{"job": ');
    expect(notJson.status).toBe(400);
    const missingKey = await post({ job: 'welcome_api' });
    expect(missingKey.status).toBe(400);
    expect(await missingKey.json()).toMatchObject({ problems: [{ path: 'run_key' }] });
    const unknown = await post({ job: 'nope', run_key: 'a' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: expect.stringContaining('welcome_api') });
    const invalid = await post({ job: 'broken_job', run_key: 'a' });
    expect(invalid.status).toBe(422);
    expect(await invalid.json()).toMatchObject({ problems: expect.arrayContaining([expect.objectContaining({ path: '', message: 'unknown key "audiance"' })]) });
  });

  it('20 identical concurrent POSTs make one run; polling follows it to the end', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => post({ job: 'welcome_api', run_key: 'td-session-1' })));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as { run_id: string; status_url: string }[];
    expect(new Set(bodies.map((b) => b.run_id)).size).toBe(1);
    expect(bodies[0]!.status_url).toBe(`/runs/${bodies[0]!.run_id}`);
    expect(await wh.query("SELECT run_id FROM herald.runs WHERE run_key = 'td-session-1'")).toHaveLength(1);

    let view: { status: string; counts: { audience: number; accepted: number } };
    for (;;) {
      const r = await fetch(`${server.url}${bodies[0]!.status_url}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(r.status).toBe(200);
      view = (await r.json()) as typeof view;
      if (view.status !== 'running') break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(view).toMatchObject({ status: 'succeeded', counts: { audience: 30 } });
    // The same key afterwards: the same, finished run.
    const again = await post({ job: 'welcome_api', run_key: 'td-session-1' });
    expect(await again.json()).toMatchObject({ run_id: bodies[0]!.run_id, status: 'succeeded', created: false });
    expect((await fetch(`${server.url}/runs/nope`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it('serves Prometheus metrics', async () => {
    const r = await fetch(`${server.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await r.text()).toContain('herald_sends_total{provider="sandbox",status="accepted"}');
  });

  it('a run left running by a process that died reads as aborted, and POST /runs with its key resumes it', async () => {
    // What a process killed mid-run leaves: its run row says running, and nobody holds the job.
    await wh.insert(RUNS, [{ run_id: 'r_dead_1', job: 'welcome_api', run_key: 'td-dead', status: 'running', dry_run: false, started_at: new Date(), finished_at: null, error: null }]);
    const get = async () => (await fetch(`${server.url}/runs/r_dead_1`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as Promise<{ status: string; error: string; counts: { audience: number } }>;
    expect(await get()).toMatchObject({ status: 'aborted', error: 'the process running it ended before recording the end; POST /runs with its run key resumes it' });
    const resumed = await post({ job: 'welcome_api', run_key: 'td-dead' });
    expect(resumed.status).toBe(202);
    expect(await resumed.json()).toMatchObject({ run_id: 'r_dead_1', created: false });
    let view = await get();
    while (view.status === 'running') {
      await new Promise((res) => setTimeout(res, 50));
      view = await get();
    }
    expect(view).toMatchObject({ status: 'succeeded', counts: { audience: 30 } });
  });
});
