/**
 * Scale-out on PostgreSQL (src/runs/run-queue.ts, part-worker.ts): workers on separate pools
 * share one run's parts, a killed worker's parts are resumed by another after its lease, one run
 * key is one run whichever instance is asked, and a whole `herald run` never runs beside parts.
 * Scripted providers record every call, so "messaged twice" is counted at the provider.
 */
import { afterAll, assert, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LoadedJob } from '../src/config/load.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { RuntimeConfigSchema } from '../src/config/runtime.schema.js';
import { RunAbortedError } from '../src/errors.js';
import { eventSink } from '../src/events/event.js';
import { silentLogger } from '../src/log.js';
import { runJob } from '../src/pipeline/run-job.js';
import type { OutboundMessage, SendOutcome } from '../src/providers/provider.js';
import { JobCatalog } from '../src/runs/job-catalog.js';
import { PartWorker } from '../src/runs/part-worker.js';
import { partOf } from '../src/runs/parts.js';
import { enqueueRun } from '../src/runs/run-queue.js';
import { RunService } from '../src/runs/run-service.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { PostgresWarehouse } from '../src/warehouse/postgres.warehouse.js';
import { freshPgUrl } from './helpers/pg.js';
import { writeJobs } from './support/jobs-dir.js';
import { accepted, loadedJob, ScriptedProvider } from './support/scripted-provider.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// PGlite serves one session: advisory locks never conflict and row locks are shared, so claims,
// leases and job locks need a real server (always there in CI).
const realServer = inject('pgKind') === 'server';
if (!realServer) console.warn('[scale-out] HERALD_TEST_PG_URL is unset: the multi-connection tests are skipped on PGlite (one session); set it to run them');

const FAST = { leaseMs: 1_000, heartbeatMs: 250, pollMs: 50 } as const;
/** A jobs folder of one job: a worker fails the parts of any other (none should be queued). */
const only = (loaded: LoadedJob) => ({ get: (name: string) => (name === loaded.job.name ? loaded : assert.fail(`a worker claimed a part of ${name}`)) });

describe('tryLock: shared and exclusive', () => {
  it('on DuckDB (in-process): shared holders together, an exclusive one alone', async () => {
    const wh = await DuckDbWarehouse.open(':memory:');
    try {
      const a = await wh.tryLock('job', { shared: true });
      const b = await wh.tryLock('job', { shared: true });
      expect([a, b].every(Boolean)).toBe(true);
      expect(await wh.tryLock('job')).toBeNull();
      await a!.release();
      await b!.release();
      const x = await wh.tryLock('job');
      expect(x).not.toBeNull();
      expect(await wh.tryLock('job', { shared: true })).toBeNull();
      await x!.release();
    } finally {
      await wh.close();
    }
  });
});

describe.runIf(realServer)('scale-out on PostgreSQL', () => {
  let url: string;
  let cleanup: () => Promise<void>;
  let admin: PostgresWarehouse;
  const opened: PostgresWarehouse[] = [];
  beforeAll(async () => {
    ({ url, cleanup } = await freshPgUrl());
    admin = await PostgresWarehouse.open(url);
  });
  afterAll(async () => {
    for (const wh of opened) await wh.close().catch(() => undefined);
    await admin?.close();
    await cleanup?.();
  });
  /** A pool of its own, named so that a test can kill its connections as a killed process's. */
  const pool = async (name: string) => {
    const named = new URL(url);
    named.searchParams.set('application_name', name);
    const wh = await PostgresWarehouse.open(named.toString());
    opened.push(wh);
    return wh;
  };
  const runRow = async (runId: string) => (await admin.query<{ status: string; accepted: number; unknown: number; audience: number }>(
    'SELECT status, accepted, unknown, audience FROM herald.runs WHERE run_id = $1', [runId]))[0]!;
  const until = async (what: string, check: () => Promise<boolean> | boolean, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const ended = (runId: string) => until(`run ${runId} to end`, async () => !['queued', 'running'].includes((await runRow(runId)).status));
  const recipients = (p: ScriptedProvider) => p.calls.map((c: OutboundMessage) => c.recipient);

  it('two workers share one run: every row sent exactly once, each by the part it hashes to', async () => {
    const loaded = loadedJob(200, { concurrency: 8, parts: 4 }, 'scale_two');
    const { run_id } = await enqueueRun(admin, { job: loaded.job.name, runKey: 'k', dryRun: false, parts: 4 }) as { run_id: string };
    const stop = new AbortController();
    const senders = new SenderRegistry(); // one process: its workers share its senders
    const providers = [new ScriptedProvider(accepted), new ScriptedProvider(accepted)];
    const workers = await Promise.all(providers.map(async (provider, i) => new PartWorker({
      wh: await pool(`two_${i}`), jobs: only(loaded), providerFor: () => provider, senders, logger: silentLogger, stop: stop.signal, maxParts: 2, ...FAST,
    })));
    workers.forEach((w) => w.start());
    await ended(run_id);
    stop.abort();
    await Promise.all(workers.map((w) => w.idle()));

    expect(await runRow(run_id)).toMatchObject({ status: 'succeeded', accepted: 200, audience: 200 });
    const all = providers.flatMap(recipients);
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200);
    expect(providers.every((p) => p.calls.length > 0)).toBe(true);
    const parts = await admin.query<{ part: number; status: string; claimed_by: string }>('SELECT part, status, claimed_by FROM herald.run_parts WHERE run_id = $1 ORDER BY part', [run_id]);
    expect(parts.map((p) => p.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(new Set(parts.map((p) => p.claimed_by)).size).toBe(2);
    // Each worker sent exactly the recipients of the parts it ran.
    for (const [i, w] of workers.entries()) {
      const mine = new Set(parts.filter((p) => p.claimed_by === w.id).map((p) => Number(p.part)));
      expect(recipients(providers[i]!).every((to) => mine.has(partOf(to, '', 4)))).toBe(true);
    }
  });

  it('a job\'s rate holds for the whole run, not for each of its parts', async () => {
    const loaded = loadedJob(48, { rate_per_second: 16, concurrency: 4, parts: 4 }, 'scale_rate');
    const { run_id } = await enqueueRun(admin, { job: loaded.job.name, runKey: 'k', dryRun: false, parts: 4 }) as { run_id: string };
    const stop = new AbortController();
    const at: number[] = [];
    const provider = new ScriptedProvider((msg) => {
      at.push(performance.now());
      return accepted(msg);
    });
    const worker = new PartWorker({ wh: await pool('rate'), jobs: only(loaded), providerFor: () => provider, senders: new SenderRegistry(), logger: silentLogger, stop: stop.signal, ...FAST });
    worker.start();
    await ended(run_id);
    stop.abort();
    await worker.idle();
    expect(at).toHaveLength(48);
    // The most sends in any second, all parts together: the job's 16, not 4 × 16.
    let most = 0;
    for (let i = 0, j = 0; i < at.length; i++) {
      while (at[i]! - at[j]! >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    expect(most).toBeLessThanOrEqual(16);
  });

  it('a killed worker\'s parts are resumed by another after its lease: nobody twice, nobody missed', async () => {
    const loaded = loadedJob(120, { concurrency: 4, parts: 4 }, 'scale_kill');
    const { run_id } = await enqueueRun(admin, { job: loaded.job.name, runKey: 'k', dryRun: false, parts: 4 }) as { run_id: string };
    // The doomed worker's provider answers 10 sends, then never again: those requests are out when it dies.
    const hung: ((o: SendOutcome) => void)[] = [];
    const doomed = new ScriptedProvider((msg, i) => (i < 10 ? accepted(msg) : new Promise<SendOutcome>((resolve) => hung.push(resolve))));
    const stopA = new AbortController();
    const doomedWh = await pool('doomed');
    const a = new PartWorker({ wh: doomedWh, jobs: only(loaded), providerFor: () => doomed, senders: new SenderRegistry(), logger: silentLogger, stop: stopA.signal, ...FAST });
    a.start();
    await until('the doomed worker to have sends out on all its parts', () => hung.length >= 8);
    // Its answered sends are settled (settlements wait up to 200 ms to share a write): they stay accepted.
    await until('the doomed worker\'s 10 answered sends to have landed', async () =>
      (await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM herald.sends WHERE run_id = $1 AND status = 'accepted'", [run_id]))[0]!.n === 10);

    // kill -9, as PostgreSQL sees it: the worker's connections (pool, part and job locks) drop and its heartbeat stops.
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'doomed'");
    // A killed process claims nothing again: its pool takes no new connections (a lingering
    // claim loop here would reconnect and take parts back before the survivor on a loaded machine).
    void doomedWh.close().catch(() => undefined);

    const survivor = new ScriptedProvider(accepted);
    const stopB = new AbortController();
    const b = new PartWorker({ wh: await pool('survivor'), jobs: only(loaded), providerFor: () => survivor, senders: new SenderRegistry(), logger: silentLogger, stop: stopB.signal, ...FAST });
    b.start();
    await ended(run_id);
    stopB.abort();
    await b.idle();

    // Rows it had written in flight are its requests (some leave after the kill here: its process lingers).
    const doomedTo = new Set(recipients(doomed));
    expect(recipients(survivor).filter((to) => doomedTo.has(to))).toEqual([]); // nobody twice: in-flight sends became unknown, not resent
    expect(new Set([...doomedTo, ...recipients(survivor)]).size).toBe(120); // nobody missed
    expect(recipients(survivor)).toHaveLength(new Set(recipients(survivor)).size);
    const sends = await admin.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM herald.sends WHERE run_id = $1 GROUP BY status ORDER BY status', [run_id]);
    expect(sends).toEqual([{ status: 'accepted', n: 120 - hung.length }, { status: 'unknown', n: hung.length }]);
    expect(await runRow(run_id)).toMatchObject({ status: 'succeeded', unknown: hung.length });

    // The zombie's requests finally return: its writes land, yet the parts are no longer its to end.
    hung.forEach((resolve, i) => resolve({ kind: 'accepted', providerMessageId: `late.${i}` }));
    stopA.abort();
    // The zombie winds down on a closed pool; whether it ever finishes is not what is tested here.
    await Promise.race([a.idle(), new Promise((r) => setTimeout(r, 5000))]);
    expect((await runRow(run_id)).status).toBe('succeeded');
  });

  it('two instances asked for the same run key answer with the same run (enqueued, not run in place)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-scale-'));
    writeJobs(dir, 20);
    const config = { config: RuntimeConfigSchema.parse({ providers: { sandbox: { latency_ms: 0, max_event_delay_ms: 10 } } }), file: 'test', missing: [] };
    const stop = new AbortController();
    try {
      const services = await Promise.all(['api_a', 'api_b'].map(async (name) => {
        const wh = await pool(name);
        return new RunService({ config, wh, catalog: new JobCatalog(dir, {}), senders: new SenderRegistry(), events: eventSink(() => wh).land, logger: silentLogger, stop: stop.signal });
      }));
      const answers = await Promise.all(services.map((s) => s.trigger({ job: 'welcome_api', runKey: 'td-1' })));
      expect(answers[0]!.run_id).toBe(answers[1]!.run_id);
      expect(answers.map((a) => a.created).sort()).toEqual([false, true]);
      const view = await services[1]!.view(answers[0]!.run_id);
      expect(view).toMatchObject({ status: 'queued', parts: { queued: 4 } });
      // Again, later: the same answer. Another key while it is not done: busy.
      expect(await services[0]!.trigger({ job: 'welcome_api', runKey: 'td-1' })).toEqual({ run_id: answers[0]!.run_id, created: false });
      await expect(services[1]!.trigger({ job: 'welcome_api', runKey: 'td-2' })).rejects.toThrow(/has a run that has not finished/);
    } finally {
      await admin.query("UPDATE herald.runs SET status = 'aborted' WHERE job = 'welcome_api'"); // no worker here runs it
      stop.abort();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a whole run of the job (herald run) is refused while its parts run', async () => {
    const loaded = loadedJob(60, { concurrency: 2, parts: 2 }, 'scale_busy');
    const { run_id } = await enqueueRun(admin, { job: loaded.job.name, runKey: 'k', dryRun: false, parts: 2 }) as { run_id: string };
    const slow = new ScriptedProvider(async (msg) => {
      await new Promise((r) => setTimeout(r, 20));
      return accepted(msg);
    });
    const stop = new AbortController();
    const worker = new PartWorker({ wh: await pool('busy'), jobs: only(loaded), providerFor: () => slow, senders: new SenderRegistry(), logger: silentLogger, stop: stop.signal, ...FAST });
    worker.start();
    await until('the parts to be sending', () => slow.calls.length >= 4);
    const cli = runJob({ loaded, wh: await pool('cli'), provider: new ScriptedProvider(accepted), senders: new SenderRegistry(), logger: silentLogger });
    await expect(cli).rejects.toBeInstanceOf(RunAbortedError);
    await expect(cli).rejects.toThrow(/already running/);
    await ended(run_id);
    stop.abort();
    await worker.idle();
    console.log(await runRow(run_id), await admin.query('SELECT status, count(*) FROM herald.sends WHERE run_id = $1 GROUP BY 1', [run_id]), await admin.query('SELECT * FROM herald.run_parts WHERE run_id = $1', [run_id]));
    expect(await runRow(run_id)).toMatchObject({ status: 'succeeded', accepted: 60 });
  });
});
