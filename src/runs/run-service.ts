/**
 * The run API's and the schedules' runs. On PostgreSQL a run is enqueued in parts (run-queue.ts)
 * and answered at once; the claim loop of every `herald serve` and `herald worker` runs it. On
 * DuckDB (one process) it starts in the background here and its id is known as soon as its row
 * exists. The same (job, run key) is one run, however many times and from however many callers
 * (and instances) it is asked for.
 */
import type { LoadedConfig } from '../config/load.js';
import type { SenderRegistry } from '../dispatch/senders.js';
import { HeraldError, RunAbortedError, errorMessage } from '../errors.js';
import type { EventSink } from '../providers/provider.js';
import type { Logger } from '../log.js';
import { runJob, type RunSummary } from '../pipeline/run-job.js';
import type { SegmentParams } from '../pipeline/segment.js';
import { bindSegmentSql } from '../pipeline/segment.js';
import { createJobProvider } from '../providers/registry.js';
import { countSends, findRun, findRunByKey, type StoredRun } from '../store/runs.store.js';
import type { RunCounts } from '../types.js';
import { PostgresWarehouse } from '../warehouse/postgres.warehouse.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { JobCatalog } from './job-catalog.js';
import { DEFAULT_PARTS } from './parts.js';
import { enqueueRun, partStatuses, type PartStatus } from './run-queue.js';

export interface RunServiceDeps {
  config: LoadedConfig;
  wh: Warehouse;
  catalog: JobCatalog;
  senders: SenderRegistry;
  events: EventSink;
  logger: Logger;
  /** Aborted on shutdown: running jobs take no new rows and settle what is in flight. */
  stop: AbortSignal;
}

export interface TriggerRequest {
  job: string;
  runKey: string;
  params?: SegmentParams;
  dryRun?: boolean;
}

export interface RunView {
  run_id: string;
  job: string;
  run_key: string;
  status: StoredRun['status'];
  dry_run: boolean;
  started_at: Date;
  finished_at: Date | null;
  error: string | null;
  counts: RunCounts;
  /** A run in parts: how many parts are in each state. */
  parts?: Partial<Record<PartStatus, number>>;
}

/** Another run of the job holds its lock (this process or another one). */
export class JobBusy extends Error {}

export class RunService {
  private readonly starting = new Map<string, Promise<{ run_id: string; created: boolean }>>();
  private readonly running = new Set<Promise<unknown>>();
  /** Ids of the runs under way in this process. */
  private readonly ours = new Set<string>();

  constructor(private readonly d: RunServiceDeps) {}

  /**
   * The run of (job, run key): started now, or the one that exists. Resolves once its row exists.
   * Throws JobNotFound, ConfigError (the job's file, SQL or mapping is wrong) or JobBusy.
   */
  trigger(r: TriggerRequest): Promise<{ run_id: string; created: boolean }> {
    const key = `${r.job}\u0000${r.runKey}`;
    let started = this.starting.get(key);
    if (!started) {
      const { wh } = this.d;
      started = (wh instanceof PostgresWarehouse ? this.enqueue(wh, r) : this.start(r)).finally(() => this.starting.delete(key));
      this.starting.set(key, started);
    }
    return started;
  }

  /** PostgreSQL: the run and its parts are written, and the workers take it from there. */
  private async enqueue(wh: PostgresWarehouse, r: TriggerRequest): Promise<{ run_id: string; created: boolean }> {
    const loaded = this.d.catalog.get(r.job);
    bindSegmentSql(loaded, r.params); // a :param with no value is the caller's error (422), not a part's failure
    const enqueued = await enqueueRun(wh, {
      job: r.job, runKey: r.runKey, dryRun: r.dryRun ?? false, ...(r.params ? { params: r.params } : {}), parts: loaded.job.delivery.parts ?? DEFAULT_PARTS,
    });
    if ('busy' in enqueued) {
      throw new JobBusy(`job ${r.job} has a run that has not finished (run key ${enqueued.busy.run_key}, ${enqueued.busy.run_id}); one run of a job at a time: ` +
        'try again once it has, or GET its status');
    }
    return enqueued;
  }

  private async start(r: TriggerRequest): Promise<{ run_id: string; created: boolean }> {
    const loaded = this.d.catalog.get(r.job);
    const existing = await findRunByKey(this.d.wh, r.job, r.runKey);
    // A finished run, or one this process is running, is answered as it is. An aborted one
    // resumes, and so does one marked running whose process died (its job lock is free: runJob
    // takes it, or says the run is busy in another process, which is then its answer).
    if (existing && (existing.status === 'succeeded' || this.ours.has(existing.run_id))) return { run_id: existing.run_id, created: false };
    const provider = createJobProvider(loaded, this.d.config, this.d.events);
    let onStarted!: (run: { run_id: string; resumed: boolean }) => void;
    const started = new Promise<{ run_id: string; resumed: boolean }>((resolve) => (onStarted = (run) => {
      this.ours.add(run.run_id);
      resolve(run);
    }));
    const finished: Promise<RunSummary> = runJob({
      loaded, wh: this.d.wh, provider, senders: this.d.senders, logger: this.d.logger, runKey: r.runKey,
      dryRun: r.dryRun ?? false, ...(r.params ? { params: r.params } : {}), stop: this.d.stop, onStarted,
    });
    const tracked = finished.then(
      (s) => this.d.logger.info({ run_id: s.run_id, job: s.job, status: s.status, counts: s.counts, error: s.error }, 'run finished'),
      (err: unknown) => this.d.logger.error({ job: r.job, run_key: r.runKey, err: errorMessage(err) }, 'run failed to start'),
    ).finally(() => provider.close().catch(() => undefined));
    void started.then((run) => tracked.finally(() => this.ours.delete(run.run_id)));
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
    // Whichever comes first: the run row exists, or the run could not begin.
    const first = await Promise.race([started.then((s) => ({ ok: s })), finished.then((s) => ({ done: s }), (err: unknown) => ({ err }))]);
    if ('ok' in first) return { run_id: first.ok.run_id, created: !first.ok.resumed };
    if ('done' in first) return { run_id: first.done.run_id, created: false }; // the key had already finished
    if (first.err instanceof RunAbortedError && /already running/.test(first.err.message)) {
      if (existing?.status === 'running') return { run_id: existing.run_id, created: false }; // alive in another process
      throw new JobBusy(first.err.message);
    }
    if (first.err instanceof HeraldError) throw first.err;
    throw first.err;
  }

  /** The run with live counts (read from herald.sends while it runs). */
  async view(runId: string): Promise<RunView | undefined> {
    const run = await findRun(this.d.wh, runId);
    if (!run) return undefined;
    const view: RunView = {
      run_id: run.run_id, job: run.job, run_key: run.run_key, status: run.status, dry_run: Boolean(run.dry_run),
      started_at: run.started_at, finished_at: run.finished_at, error: run.error ?? null, counts: await countSends(this.d.wh, runId),
    };
    // In parts, a run's liveness is its parts' leases: a dead worker's part is resumed by another.
    if (run.parts != null && this.d.wh instanceof PostgresWarehouse) return { ...view, parts: await partStatuses(this.d.wh, runId) };
    // Marked running, yet no process holds its job: its process died, or lost the warehouse
    // before it could record the end. Say so rather than `running` forever.
    // The row is read again under the lock: the run may have ended between the first read and now.
    if (run.status === 'running' && !this.ours.has(runId)) {
      const lock = await this.d.wh.tryLock(`herald:job:${run.job}`);
      if (lock) {
        try {
          const now = await findRun(this.d.wh, runId);
          if (now?.status !== 'running') return { ...view, status: now?.status ?? view.status, finished_at: now?.finished_at ?? null, error: now?.error ?? null };
        } finally {
          await lock.release();
        }
        return { ...view, status: 'aborted', error: 'the process running it ended before recording the end; POST /runs with its run key resumes it' };
      }
    }
    return view;
  }

  /** Resolves when every run started here has finished (after `stop` they wind down quickly). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
