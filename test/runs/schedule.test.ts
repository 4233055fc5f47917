/**
 * Schedules fire in the job's time zone with a run key per scheduled minute; a busy job is
 * skipped, not queued. And across two processes on PostgreSQL, one job never runs twice at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { eventSink } from '../../src/events/event.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { JobCatalog } from '../../src/runs/job-catalog.js';
import { JobBusy, RunService } from '../../src/runs/run-service.js';
import { configuredProviders, PartWorker } from '../../src/runs/part-worker.js';
import type { PostgresWarehouse } from '../../src/warehouse/postgres.warehouse.js';
import { startSchedules } from '../../src/runs/scheduler.js';
import { openWarehouse } from '../../src/warehouse/open.js';
import { freshPgUrl } from '../helpers/pg.js';
import { writeJobs } from '../support/jobs-dir.js';

const dirs: string[] = [];
afterEach(() => {
  vi.useRealTimers();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function jobsDir(rows: number, extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-sched-'));
  dirs.push(dir);
  writeJobs(dir, rows, extra);
  return dir;
}

describe('schedules', () => {
  it('fire on time in the job\'s zone, one run key per scheduled minute; a busy job is skipped', async () => {
    vi.useFakeTimers({ now: new Date('2026-03-01T23:58:30Z') }); // 08:58:30 in Tokyo
    const triggered: { job: string; runKey: string }[] = [];
    let busy = false;
    const service = { trigger: vi.fn(async (r: { job: string; runKey: string }) => {
      triggered.push(r);
      if (busy) throw new JobBusy('job welcome_api is already running');
      return { run_id: `r-${triggered.length}`, created: true };
    }) } as unknown as RunService;
    const warnings: string[] = [];
    const logger = { ...silentLogger, info: () => undefined, error: () => undefined, warn: (_o: unknown, m: string) => void warnings.push(m) } as unknown as Logger;
    const schedules = startSchedules(new JobCatalog(jobsDir(2, 'schedule: "0 9 * * *"\ntimezone: Asia/Tokyo'), {}), service, logger);
    expect(schedules.jobs).toEqual([{ job: 'welcome_api', schedule: '0 9 * * *', timezone: 'Asia/Tokyo', next: new Date('2026-03-02T00:00:00Z') }]);

    await vi.advanceTimersByTimeAsync(60_000);
    expect(triggered).toEqual([]);
    await vi.advanceTimersByTimeAsync(31_000); // 09:00 Tokyo
    expect(triggered).toEqual([{ job: 'welcome_api', runKey: 'schedule-2026-03-02T00:00' }]);

    busy = true;
    await vi.advanceTimersByTimeAsync(24 * 3600_000);
    expect(triggered.map((t) => t.runKey)).toEqual(['schedule-2026-03-02T00:00', 'schedule-2026-03-03T00:00']);
    expect(warnings).toContain('scheduled run skipped: the job is still running');
    await schedules.stop();
  });

  it('an invalid cron expression is a job error', () => {
    const catalog = new JobCatalog(jobsDir(1, 'schedule: "61 * * * *"'), {});
    expect(() => catalog.get('welcome_api')).toThrow(/a cron expression/);
  });
});

describe('one run of a job at a time, across processes (PostgreSQL: one unfinished run per job in the queue)', () => {
  // PGlite serves one session, in which advisory locks never conflict: this needs a real server.
  it.runIf(inject('pgKind') === 'server')('a second process asking for another run of the job while one is unfinished gets JobBusy', async () => {
    const pg = await freshPgUrl();
    const dir = jobsDir(60);
    const [a, b] = [await openWarehouse(pg.url), await openWarehouse(pg.url)];
    const stop = new AbortController();
    const config = { config: RuntimeConfigSchema.parse({ providers: { sandbox: { latency_ms: 0, max_event_delay_ms: 10 } } }), file: 'test', missing: [] };
    const service = (wh: typeof a) => new RunService({
      config, wh, catalog: new JobCatalog(dir, {}), senders: new SenderRegistry(), events: eventSink(() => wh).land, logger: silentLogger, stop: stop.signal,
    });
    const [first, second] = [service(a), service(b)];
    // On PostgreSQL the run API enqueues; this worker runs what it enqueued.
    const worker = new PartWorker({ wh: a as PostgresWarehouse, jobs: new JobCatalog(dir, {}), providerFor: configuredProviders(config, eventSink(() => a).land),
      senders: new SenderRegistry(), logger: silentLogger, stop: stop.signal, pollMs: 20 });
    const ended = async (runId: string) => {
      while (['queued', 'running'].includes((await first.view(runId))!.status)) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      const started = await first.trigger({ job: 'welcome_api', runKey: 'one' });
      expect(started.created).toBe(true);
      await expect(second.trigger({ job: 'welcome_api', runKey: 'two' })).rejects.toBeInstanceOf(JobBusy);
      worker.start();
      await ended(started.run_id);
      // Once the first has finished, the second may run.
      const next = await second.trigger({ job: 'welcome_api', runKey: 'two' });
      expect(next.created).toBe(true);
      await ended(next.run_id);
      expect(await a.query<{ run_key: string; status: string }>('SELECT run_key, status FROM herald.runs ORDER BY started_at')).toEqual([
        { run_key: 'one', status: 'succeeded' }, { run_key: 'two', status: 'succeeded' },
      ]);
    } finally {
      stop.abort();
      await worker.idle();
      await a.close();
      await b.close();
      await pg.cleanup();
    }
  });
});
