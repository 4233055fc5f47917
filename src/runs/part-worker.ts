/**
 * The claim loop of `herald worker` and of `herald serve` on PostgreSQL: claims parts of enqueued
 * runs (run-queue.ts), runs each through runJob with a heartbeat renewing its lease, and records
 * its end. Any number of processes run it against one PostgreSQL.
 *
 * A part stops at once (no new rows; sends in flight settle) when its lease cannot be renewed,
 * another worker holds it, its advisory lock's connection drops, or its run was aborted by
 * another part. On shutdown the loop claims nothing more and each part goes back to the queue,
 * so another worker resumes it without waiting for the lease to run out.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { LoadedConfig, LoadedJob } from '../config/load.js';
import type { SenderRegistry } from '../dispatch/senders.js';
import { ConfigError, RunAbortedError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { runJob } from '../pipeline/run-job.js';
import type { EventSink, Provider } from '../providers/provider.js';
import { createJobProvider } from '../providers/registry.js';
import type { PostgresWarehouse } from '../warehouse/postgres.warehouse.js';
import { isConnectionLoss } from '../warehouse/warehouse.js';
import { claimPart, finishPart, renewClaim, type ClaimedPart, type PartEnding } from './run-queue.js';
import { runOutcome } from './run-outcome.js';
import { recordRunEnded } from '../observability/metrics.js';
import type { RunCounts, RunRecord } from '../types.js';
import { sleep } from '../util/sleep.js';

export interface PartWorkerOptions {
  wh: PostgresWarehouse;
  /** The jobs by name (serve's and worker's JobCatalog). */
  jobs: { get(name: string): LoadedJob };
  /** A provider for one part's run; closed when the part ends. */
  providerFor(loaded: LoadedJob): Provider;
  /** The process's senders: parts from one number share its pacing. */
  senders: SenderRegistry;
  logger: Logger;
  /** Aborted on shutdown: no more claims; running parts settle and go back to the queue. */
  stop: AbortSignal;
  /** Names this worker in herald.run_parts.claimed_by (default host:pid:random). */
  id?: string;
  /** How long a claim lasts unrenewed (30 s). */
  leaseMs?: number;
  /** How often a claim is renewed (a third of the lease). */
  heartbeatMs?: number;
  /** How long the loop waits when no part is free (1 s). */
  pollMs?: number;
  /** Parts this process runs at once (4). */
  maxParts?: number;
}

/** How long a part whose job another process holds (a `herald run` of it) stays out of the queue. */
const JOB_BUSY_BACKOFF_MS = 5_000;

export class PartWorker {
  readonly id: string;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly maxParts: number;
  private readonly running = new Set<Promise<void>>();
  private loop: Promise<void> | null = null;

  constructor(private readonly o: PartWorkerOptions) {
    this.id = o.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.leaseMs = o.leaseMs ?? 30_000;
    this.heartbeatMs = o.heartbeatMs ?? Math.floor(this.leaseMs / 3);
    this.pollMs = o.pollMs ?? 1_000;
    this.maxParts = o.maxParts ?? 4;
  }

  /** Starts claiming parts until `stop` aborts. */
  start(): void {
    this.loop ??= this.claimLoop();
  }

  /** Resolves once the loop has stopped and every part it claimed has ended and been recorded. */
  async idle(): Promise<void> {
    await this.loop;
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async claimLoop(): Promise<void> {
    const { stop, logger } = this.o;
    const stopped = aborted(stop);
    while (!stop.aborted) {
      if (this.running.size >= this.maxParts) {
        await Promise.race([...this.running, stopped]);
        continue;
      }
      let claimed: ClaimedPart | null = null;
      try {
        claimed = await claimPart(this.o.wh, this.id, this.leaseMs);
      } catch (err) {
        logger.warn({ worker: this.id, err: errorMessage(err) }, 'could not claim a part; trying again');
      }
      if (!claimed) {
        await sleep(this.pollMs, stop);
        continue;
      }
      if (stop.aborted) { // claimed as the shutdown came: straight back to the queue
        await this.record(claimed, { end: 'released', error: null });
        break;
      }
      const part = this.runPart(claimed).finally(() => this.running.delete(part));
      this.running.add(part);
    }
  }

  private async runPart(claim: ClaimedPart): Promise<void> {
    const { logger } = this.o;
    const where = { worker: this.id, run_id: claim.run_id, part: `${claim.part + 1}/${claim.parts}`, attempt: claim.attempts };
    const lost = new AbortController();
    const lose = (why: string) => lost.signal.aborted || lost.abort(new RunAbortedError(`part ${claim.part_id}: ${why}; it stops here and the rows not sent stay pending`));
    claim.lock.lost.addEventListener('abort', () => lose('its lock\'s PostgreSQL connection dropped'), { once: true });
    const heartbeat = setInterval(() => {
      renewClaim(this.o.wh, claim.part_id, this.id, this.leaseMs).then(
        (held) => held || lose('its claim was taken by another worker, or its run was aborted'),
        (err: unknown) => lose(`its lease could not be renewed (${errorMessage(err)})`));
    }, this.heartbeatMs);
    lost.signal.addEventListener('abort', () => clearInterval(heartbeat), { once: true });
    logger.info(where, 'part claimed');

    let ending: PartEnding;
    let provider: Provider | undefined;
    try {
      const loaded = this.o.jobs.get(claim.job);
      provider = this.o.providerFor(loaded);
      const summary = await runJob({
        loaded, wh: this.o.wh, provider, senders: this.o.senders, logger, runKey: claim.run_key, dryRun: claim.dry_run,
        ...(claim.params ? { params: claim.params } : {}), stop: AbortSignal.any([this.o.stop, lost.signal]),
        part: { runId: claim.run_id, index: claim.part, of: claim.parts },
      });
      ending = this.endOf(summary.status, summary.error, lost.signal);
    } catch (err) {
      if (err instanceof RunAbortedError && /already running/.test(err.message)) {
        // A `herald run` of the job holds its lock: the part waits for it in the queue.
        ending = { end: 'released', error: err.message, notBeforeMs: JOB_BUSY_BACKOFF_MS };
      } else {
        // A job file that is gone or wrong, a segment query that fails: the part fails, and says why.
        ending = { end: err instanceof ConfigError || !isConnectionLoss(err) ? 'failed' : 'released', error: errorMessage(err) };
      }
    } finally {
      clearInterval(heartbeat);
      await provider?.close().catch(() => undefined);
    }
    await this.record(claim, ending);
    logger.info({ ...where, end: ending.end, error: ending.error }, 'part ended');
  }

  /** A stop that was not the part's own doing sends it back to the queue; the provider's refusal aborts the run. */
  private endOf(status: string, error: string | null, lost: AbortSignal): PartEnding {
    if (status === 'succeeded') return { end: 'succeeded', error: null };
    if (status === 'failed') return { end: 'failed', error };
    const elsewhere = this.o.stop.aborted || lost.aborted || isConnectionLoss(new Error(error ?? ''));
    return elsewhere ? { end: 'released', error } : { end: 'aborted', error, abortRun: true };
  }

  /**
   * Records the part's end. While the warehouse is away (a PostgreSQL restart) it tries again
   * every second for up to a lease: a part released within that time is claimed again at once,
   * instead of waiting for its lease to run out.
   */
  private async record(claim: ClaimedPart, ending: PartEnding): Promise<void> {
    const giveUpAt = performance.now() + this.leaseMs;
    try {
      for (;;) {
        try {
          const finished = await finishPart(this.o.wh, claim, this.id, ending);
          if (!finished.recorded) this.o.logger.warn({ worker: this.id, part_id: claim.part_id }, 'the part was claimed by another worker meanwhile; its end is theirs to record');
          if (finished.runEnded) this.runEnded(claim, finished.runEnded, finished.counts!, finished.startedAt ?? null);
          return;
        } catch (err) {
          if (!isConnectionLoss(err) || performance.now() > giveUpAt) {
            // Its lease runs out and another worker resumes the part.
            this.o.logger.error({ worker: this.id, part_id: claim.part_id, err: errorMessage(err) }, 'could not record the end of a part');
            return;
          }
          await sleep(RECORD_RETRY_MS);
        }
      }
    } finally {
      await claim.lock.release();
    }
  }

  /**
   * The run's last part ended here: the one "run finished" line of the run (each part's own
   * end is "part finished"), and the run metrics, counted once across every worker.
   */
  private runEnded(claim: ClaimedPart, status: RunRecord['status'], counts: RunCounts, startedAt: Date | null): void {
    let maxFailureRatio: number | undefined;
    try {
      maxFailureRatio = this.o.jobs.get(claim.job).job.delivery.max_failure_ratio;
    } catch {
      // the job's file is gone or broken: exit code 3 cannot be told, 0 it is
    }
    const outcome = runOutcome(status, counts, maxFailureRatio);
    const endedAt = new Date();
    this.o.logger.info({ run_id: claim.run_id, job: claim.job, run_key: claim.run_key, status, counts, ...outcome, worker: this.id, ended_by_part: claim.part + 1 }, 'run finished');
    recordRunEnded({ job: claim.job, status, exit_code: outcome.exit_code ?? 1, seconds: startedAt ? (endedAt.getTime() - startedAt.getTime()) / 1000 : 0, endedAt });
  }
}

/** How often the end of a part is written again while the warehouse is away. */
const RECORD_RETRY_MS = 1000;

/** Providers as the config makes them, their events landed by `events`: what serve and worker pass. */
export function configuredProviders(config: LoadedConfig, events: EventSink): (loaded: LoadedJob) => Provider {
  return (loaded) => createJobProvider(loaded, config, events);
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
