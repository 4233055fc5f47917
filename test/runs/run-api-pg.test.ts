/**
 * The run API's contract on PostgreSQL, where POST /runs enqueues and a worker runs the parts:
 * 202 at once though the segment query sleeps (pg_sleep), failure_ratio and exit_code once the
 * last part has ended (3 over max_failure_ratio), unknown params named, `created` once, and
 * "run finished" logged once per run while each part logs "part finished".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import { RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { eventSink } from '../../src/events/event.js';
import { createLogger } from '../../src/log.js';
import { createJobProvider } from '../../src/providers/registry.js';
import { JobCatalog } from '../../src/runs/job-catalog.js';
import { PartWorker } from '../../src/runs/part-worker.js';
import { RunService } from '../../src/runs/run-service.js';
import { runRoutes } from '../../src/server/runs.routes.js';
import { startServe, type ServeHandle } from '../../src/server/serve.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import { PostgresWarehouse } from '../../src/warehouse/postgres.warehouse.js';
import { freshPgUrl } from '../helpers/pg.js';

const TOKEN = 'contract-pg-token';
const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;
const values = (n: number) => Array.from({ length: n }, (_, i) => `('k${i}', '${phone(i)}', 'Name ${i}', 'yes')`).join(', ');
const sandbox = (permanent: number): LoadedConfig => ({
  config: RuntimeConfigSchema.parse({ providers: { sandbox: { latency_ms: 0, max_event_delay_ms: 10, transient_failure_ratio: 0, permanent_failure_ratio: permanent } } }),
  file: 'test', missing: [],
});

interface View {
  run_id: string;
  status: string;
  created: boolean;
  failure_ratio: number | null;
  exit_code: number | null;
  error?: string;
  counts: { accepted: number; failed: number };
}

// Parts claimed under advisory locks need a real server (PGlite has one session).
describe.runIf(inject('pgKind') === 'server')('run API contract (PostgreSQL)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let wh: PostgresWarehouse;
  let server: ServeHandle;
  let service: RunService;
  let worker: PartWorker;
  const stop = new AbortController();
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const pg = await freshPgUrl();
    cleanup = pg.cleanup;
    const opened = await openWarehouse(pg.url);
    if (!(opened instanceof PostgresWarehouse)) throw new Error('expected PostgreSQL');
    wh = opened;
    dir = mkdtempSync(join(tmpdir(), 'herald-contract-pg-'));
    const job = (name: string, query: string, delivery: string) => writeFileSync(join(dir, `${name}.yaml`), `
name: ${name}
source: { query: "${query}" }
audience: { key: k, phone: phone, default_region: US, consent: ok }
message: { provider: sandbox, sender: "1555000${name.length}", template: { name: hello, language: en_US }, body: [ { column: name } ] }
delivery: ${delivery}
`);
    job('slow_pg', `SELECT t.* FROM (VALUES ${values(6)}) t(k, phone, name, ok) CROSS JOIN (SELECT pg_sleep(2)) AS s`, '{ parts: 2 }');
    job('strict_pg', `SELECT * FROM (VALUES ${values(8)}) t(k, phone, name, ok)`, '{ parts: 2, max_failure_ratio: 0.2 }');
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
    const catalog = new JobCatalog(dir, {});
    const ok = sandbox(0);
    const failing = sandbox(1); // every recipient undeliverable
    service = new RunService({ config: ok, wh, catalog, senders: new SenderRegistry(), events: eventSink(() => wh).land, logger, stop: stop.signal });
    worker = new PartWorker({
      wh, jobs: catalog, senders: new SenderRegistry(), logger, stop: stop.signal, pollMs: 50,
      providerFor: (loaded) => createJobProvider(loaded, loaded.job.name === 'strict_pg' ? failing : ok, eventSink(() => wh).land),
    });
    worker.start();
    server = await startServe({ config: ok.config, wh, logger, port: 0, host: '127.0.0.1', routes: runRoutes(service, TOKEN, logger) });
  });
  afterAll(async () => {
    stop.abort();
    await worker?.idle();
    await service?.idle();
    await server?.close();
    await wh?.close();
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const auth = { authorization: `Bearer ${TOKEN}` };
  const post = async (body: unknown) => {
    const r = await fetch(`${server.url}/runs`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...auth } });
    return { status: r.status, body: (await r.json()) as View };
  };
  const ended = async (id: string): Promise<View> => {
    for (;;) {
      const v = (await (await fetch(`${server.url}/runs/${id}`, { headers: auth })).json()) as View;
      if (v.status !== 'queued' && v.status !== 'running') return v;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('answers 202 at once while the segment sleeps; the outcome follows once the last part ends; one "run finished"', async () => {
    const t0 = performance.now();
    const first = await post({ job: 'slow_pg', run_key: 'pg-slow-1' });
    const ms = performance.now() - t0;
    console.info(`POST /runs on PostgreSQL with a pg_sleep(2) segment: 202 in ${ms.toFixed(0)} ms`);
    expect(first.status).toBe(202);
    expect(ms).toBeLessThan(1000);
    expect(first.body).toMatchObject({ status: 'queued', created: true, failure_ratio: null, exit_code: null });
    expect((await post({ job: 'slow_pg', run_key: 'pg-slow-1' })).body).toMatchObject({ run_id: first.body.run_id, created: false, exit_code: null });

    const view = await ended(first.body.run_id);
    expect(view).toMatchObject({ status: 'succeeded', failure_ratio: 0, exit_code: 0, counts: { accepted: 6 } });
    const mine = lines.filter((l) => l.run_id === first.body.run_id);
    expect(mine.filter((l) => l.msg === 'run finished')).toHaveLength(1);
    expect(mine.filter((l) => l.msg === 'part finished')).toHaveLength(2);
    expect(mine.find((l) => l.msg === 'run finished')).toMatchObject({ job: 'slow_pg', status: 'succeeded', exit_code: 0 });
  });

  it('a run over max_failure_ratio: exit_code 3, as herald run would exit', async () => {
    const answer = await post({ job: 'strict_pg', run_key: 'pg-strict-1' });
    expect(answer.status).toBe(202);
    expect(await ended(answer.body.run_id)).toMatchObject({ status: 'succeeded', failure_ratio: 1, exit_code: 3, counts: { failed: 8 } });
    expect((await post({ job: 'strict_pg', run_key: 'pg-strict-1' })).body).toMatchObject({ created: false, status: 'succeeded', exit_code: 3 });
  });

  it('unknown params are a 400 naming the SQL\'s parameters', async () => {
    const r = await post({ job: 'strict_pg', run_key: 'pg-p-1', params: { country: 'JP' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('unknown param "country": the SQL of job strict_pg takes no parameters');
  });
});
