/**
 * The run API's and the schedules' runs. On PostgreSQL a run is enqueued in parts (run-queue.ts)
 * and answered at once; the claim loop of every `herald serve` and `herald worker` runs it. On
 * DuckDB (one process) its row is written here and the run goes on in the background, so the
 * answer never waits for the segment query, the provider's template listing or the first send:
 * a workflow's HTTP call (Treasure Data `http>` gives up after 30 s) gets its run id at once and
 * polls GET /runs/:id. The same (job, run key) is one run, however many times and from however
 * many callers (and instances) it is asked for; `created` is true for exactly one of them.
 */
import type { LoadedConfig, LoadedJob } from '../config/load.js';
import type { SenderRegistry } from '../dispatch/senders.js';
import { ConfigError, RunAbortedError, errorMessage } from '../errors.js';
import type { EventSink } from '../providers/provider.js';
import type { Logger } from '../log.js';
import { recordRunEnded } from '../observability/metrics.js';
import { newRunId } from '../pipeline/identity.js';
import { runJob, type RunSummary } from '../pipeline/run-job.js';
import type { SegmentParams } from '../pipeline/segment.js';
import { bindSegmentSql } from '../pipeline/segment.js';
import { createJobProvider } from '../providers/registry.js';
import { countSends, findRun, findRunByKey, finishRun, insertRun, type StoredRun } from '../store/runs.store.js';
import type { RunCounts } from '../types.js';
import { PostgresWarehouse } from '../warehouse/postgres.warehouse.js';
import { isConnectionLoss, type Warehouse } from '../warehouse/warehouse.js';
import type { JobCatalog } from './job-catalog.js';
import { DEFAULT_PARTS } from './parts.js';
import { runOutcome, type RunOutcome } from './run-outcome.js';
import { enqueueRun, partStatuses, type PartStatus } from './run-queue.js';
import { checkParams } from './segment-params.js';

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

export interface Triggered {
  run_id: string;
  /** True only for the call that made the run; a repeat of the key (concurrent or later) gets false. */
  created: boolean;
  /** A run this call made: how it stands now (queued on PostgreSQL, running on DuckDB). */
  status?: StoredRun['status'];
}

export interface RunView extends RunOutcome {
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

/** Another run of the job has not finished: one run of a job at a time. */
export class JobBusy extends Error {}

/** The run of a job this process has under way; `runId` is null while its row is being written. */
interface UnderWay {
  runKey: string;
  runId: string | null;
}

export class RunService {
  private readonly starting = new Map<string, Promise<Triggered>>();
  private readonly running = new Set<Promise<unknown>>();
  /** Ids of the runs under way in this process. */
  private readonly ours = new Set<string>();
  /** DuckDB: the run each job has under way here, taken before the first await so two keys cannot both start. */
  private readonly underWay = new Map<string, UnderWay>();

  constructor(private readonly d: RunServiceDeps) {}

  /**
   * The run of (job, run key): started (enqueued) now, or the one that exists. Resolves once its
   * row exists, before any of its work. Throws JobNotFound, ConfigError (the job's file is wrong,
   * or a parameter of its SQL has no value), UnknownParams or JobBusy.
   */
  trigger(r: TriggerRequest): Promise<Triggered> {
    const key = `${r.job}\u0000${r.runKey}`;
    const pending = this.starting.get(key);
    // A repeat while the first call is still writing the row: the same run, not made by this call.
    if (pending) return pending.then(({ run_id }) => ({ run_id, created: false }));
    const started = this.begin(r).finally(() => this.starting.delete(key));
    this.starting.set(key, started);
    return started;
  }

  private async begin(r: TriggerRequest): Promise<Triggered> {
    const loaded = this.d.catalog.get(r.job);
    checkParams(loaded, r.params);
    bindSegmentSql(loaded, r.params); // a :param with no value is the caller's error (422), not the run's failure
    const { wh } = this.d;
    return wh instanceof PostgresWarehouse ? this.enqueue(wh, loaded, r) : this.start(loaded, r);
  }

  /** PostgreSQL: the run and its parts are written, and the workers take it from there. */
  private async enqueue(wh: PostgresWarehouse, loaded: LoadedJob, r: TriggerRequest): Promise<Triggered> {
    const enqueued = await enqueueRun(wh, {
      job: r.job, runKey: r.runKey, dryRun: r.dryRun ?? false, ...(r.params ? { params: r.params } : {}), parts: loaded.job.delivery.parts ?? DEFAULT_PARTS,
    });
    if ('busy' in enqueued) {
      throw new JobBusy(`job ${r.job} has a run that has not finished (run key ${enqueued.busy.run_key}, ${enqueued.busy.run_id}); one run of a job at a time: ` +
        `try again once it has, or GET /runs/${enqueued.busy.run_id}`);
    }
    return enqueued.created ? { ...enqueued, status: 'queued' } : enqueued;
  }

  /**
   * DuckDB: the run's row is written (or the existing one taken up) and the run goes on in the
   * background. Everything that can refuse it at once is checked first; what only the run can
   * find (bad SQL, a template not approved) ends it `failed` with the reason, seen by polling.
   */
  private async start(loaded: LoadedJob, r: TriggerRequest): Promise<Triggered> {
    const { wh } = this.d;
    const holder = this.underWay.get(r.job);
    if (holder) {
      if (holder.runKey === r.runKey && holder.runId) return { run_id: holder.runId, created: false };
      const existing = await findRunByKey(wh, r.job, r.runKey);
      if (existing?.status === 'succeeded') return { run_id: existing.run_id, created: false };
      // Within one process (DuckDB has one): the job's lock is this process's own, so say which run holds it.
      throw new JobBusy(`job ${r.job} has a run under way in this herald serve (run key ${holder.runKey}${holder.runId ? `, ${holder.runId}` : ''}); ` +
        `one run of a job at a time: try again once it has finished${holder.runId ? `, or GET /runs/${holder.runId}` : ''}`);
    }
    const slot: UnderWay = { runKey: r.runKey, runId: null };
    this.underWay.set(r.job, slot);
    let triggered: Triggered;
    try {
      const existing = await findRunByKey(wh, r.job, r.runKey);
      if (existing?.status === 'succeeded') {
        this.underWay.delete(r.job);
        return { run_id: existing.run_id, created: false };
      }
      const dryRun = r.dryRun ?? false;
      if (existing && Boolean(existing.dry_run) !== dryRun) {
        throw ConfigError.of('run_key', '', `run key "${r.runKey}" belongs to a ${existing.dry_run ? 'dry' : 'real'} run of ${r.job}`, 'use another run key for this kind of run');
      }
      if (existing) {
        // Aborted, failed, or left running by a process that died: runJob resumes it.
        triggered = { run_id: existing.run_id, created: false };
      } else {
        const now = new Date();
        const runId = newRunId(now);
        await insertRun(wh, { run_id: runId, job: r.job, run_key: r.runKey, status: 'running', dry_run: dryRun, started_at: now, finished_at: null, error: null });
        triggered = { run_id: runId, created: true, status: 'running' };
      }
    } catch (err) {
      this.underWay.delete(r.job);
      throw err;
    }
    slot.runId = triggered.run_id;
    this.ours.add(triggered.run_id);
    this.launch(loaded, r, triggered.run_id, slot);
    return triggered;
  }

  /** Runs the job in the background; its end is logged once ("run finished") and counted. */
  private launch(loaded: LoadedJob, r: TriggerRequest, runId: string, slot: UnderWay): void {
    const began = performance.now();
    const provider = createJobProvider(loaded, this.d.config, this.d.events);
    const tracked = runJob({
      loaded, wh: this.d.wh, provider, senders: this.d.senders, logger: this.d.logger, runKey: r.runKey,
      dryRun: r.dryRun ?? false, ...(r.params ? { params: r.params } : {}), stop: this.d.stop,
    }).then(
      // runJob logged "run finished" itself.
      (s: RunSummary) => recordRunEnded({ job: s.job, status: s.status, exit_code: s.exit_code, seconds: (performance.now() - began) / 1000 }),
      (err: unknown) => this.endUnstarted(loaded, runId, err, began),
    ).finally(async () => {
      await provider.close().catch(() => undefined);
      this.ours.delete(runId);
      if (this.underWay.get(r.job) === slot) this.underWay.delete(r.job);
    });
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }

  /**
   * runJob threw: the run could not begin (its SQL, the template, the job's lock) or its end could
   * not be written. The row the API answered with must not stay `running`: it ends failed (or
   * aborted, when the warehouse went away: the same key resumes it) with the reason.
   */
  private async endUnstarted(loaded: LoadedJob, runId: string, err: unknown, began: number): Promise<void> {
    const status = err instanceof RunAbortedError || isConnectionLoss(err) ? 'aborted' : 'failed';
    const error = errorMessage(err);
    let counts: RunCounts | null = null;
    try {
      counts = await countSends(this.d.wh, runId);
      await finishRun(this.d.wh, runId, status, counts, error);
    } catch (again) {
      this.d.logger.error({ run_id: runId, job: loaded.job.name, err: errorMessage(again) }, 'the end of a run that could not go on was not recorded; POST /runs with its run key tries again');
    }
    const exitCode = runOutcome(status, counts ?? { accepted: 0, failed: 0, unknown: 0 }, loaded.job.delivery.max_failure_ratio).exit_code ?? 1;
    this.d.logger.error({ run_id: runId, job: loaded.job.name, status, counts, error, exit_code: exitCode }, 'run finished');
    recordRunEnded({ job: loaded.job.name, status, exit_code: exitCode, seconds: (performance.now() - began) / 1000 });
  }

  /** The run with live counts (read from herald.sends while it runs), and once it has ended its failure ratio and exit code. */
  async view(runId: string): Promise<RunView | undefined> {
    const run = await findRun(this.d.wh, runId);
    if (!run) return undefined;
    const base = {
      run_id: run.run_id, job: run.job, run_key: run.run_key, status: run.status, dry_run: Boolean(run.dry_run),
      started_at: run.started_at, finished_at: run.finished_at, error: run.error ?? null, counts: await countSends(this.d.wh, runId),
    };
    // Only a succeeded run's exit code depends on the job's threshold: the file is read for those alone.
    const withOutcome = (v: typeof base & { parts?: RunView['parts'] }): RunView =>
      ({ ...v, ...runOutcome(v.status, v.counts, v.status === 'succeeded' ? this.maxFailureRatio(v.job) : undefined) });
    // In parts, a run's liveness is its parts' leases: a dead worker's part is resumed by another.
    if (run.parts != null && this.d.wh instanceof PostgresWarehouse) return withOutcome({ ...base, parts: await partStatuses(this.d.wh, runId) });
    // Marked running, yet no process holds its job: its process died, or lost the warehouse
    // before it could record the end. Say so rather than `running` forever.
    // The row is read again under the lock: the run may have ended between the first read and now.
    if (run.status === 'running' && !this.ours.has(runId)) {
      const lock = await this.d.wh.tryLock(`herald:job:${run.job}`);
      if (lock) {
        try {
          const now = await findRun(this.d.wh, runId);
          if (now?.status !== 'running') return withOutcome({ ...base, status: now?.status ?? base.status, finished_at: now?.finished_at ?? null, error: now?.error ?? null });
        } finally {
          await lock.release();
        }
        return withOutcome({ ...base, status: 'aborted', error: 'the process running it ended before recording the end; POST /runs with its run key resumes it' });
      }
    }
    return withOutcome(base);
  }

  /** The job's threshold as its file says now; none when the file is gone or broken (exit code 3 cannot then be told). */
  private maxFailureRatio(job: string): number | undefined {
    try {
      return this.d.catalog.get(job).job.delivery.max_failure_ratio;
    } catch {
      return undefined;
    }
  }

  /** Resolves when every run started here has finished (after `stop` they wind down quickly). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
