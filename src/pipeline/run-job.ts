/**
 * One run of a job, or one part of it, the whole flow on one screen:
 *   segment → normalize → [part filter] → render → decide → dispatch → land
 * around it: the job lock, crash recovery, the run row and its final counts. A part (a worker
 * claimed it: src/runs/part-worker.ts) holds the job lock shared, so the parts of a run go at
 * once while a whole run (`herald run`) still excludes them; the worker records its end.
 */
import type { Job } from '../config/job.schema.js';
import type { LoadedJob } from '../config/load.js';
import { ConfigError, HeraldError, RunAbortedError, WarehouseError, errorMessage } from '../errors.js';
import { batchWindowMs, jobRateProblem, LeaseNotTaken, type SenderRegistry } from '../dispatch/senders.js';
import type { Logger } from '../log.js';
import type { Provider } from '../providers/provider.js';
import { keepPart, partOf, type RunPart } from '../runs/parts.js';
import { abortRuns, countSends, findRun, findRunByKey, findRunningRuns, finishRun, insertRun, type StoredRun } from '../store/runs.store.js';
import { findLastInbound } from '../store/inbound.store.js';
import type { RunCounts, RunRecord } from '../types.js';
import { RUNS } from '../warehouse/tables.js';
import { isConnectionLoss, type HeldLock, type RowStream, type Warehouse } from '../warehouse/warehouse.js';
import { preflight, runCategory, type Preflight } from '../preflight/template-check.js';
import { decide } from './decide.js';
import { watchTemplate } from './template-watch.js';
import { openBudget, type BudgetReport, type MessagingBudget } from './messaging-budget.js';
import { dispatch } from './dispatch.js';
import { newRunId } from './identity.js';
import { Ledger, reconcileUnknowns, recoverInterrupted, type PartKey, type Tally } from './land.js';
import { normalize } from './normalize.js';
import { createPhoneNormalizer, type PhoneNormalizer } from './phone.pool.js';
import { render } from './render.js';
import { countSegment, openSegment, segmentRows, type SegmentParams } from './segment.js';

export interface RunOptions {
  loaded: LoadedJob;
  /** The job's warehouse: the segment is read from it and herald's tables live in it. */
  wh: Warehouse;
  provider: Provider;
  /** The process's senders: runs from one number share its pacing. */
  senders: SenderRegistry;
  logger: Logger;
  dryRun?: boolean;
  limit?: number;
  /** The same key resumes, or returns, the same run; never a second one. */
  runKey?: string;
  resendUnknown?: boolean;
  params?: SegmentParams;
  /** Aborting it stops the run gracefully: no new rows, in-flight sends settle, status aborted. */
  stop?: AbortSignal;
  onProgress?: (tally: Tally) => void;
  /** The clock for sending hours and timestamps (tests fix it). */
  now?: () => Date;
  /** Called once the run row exists (before the first send): the run API answers with it. */
  onStarted?: (run: { run_id: string; run_key: string; resumed: boolean }) => void;
  /** Only this part of an enqueued run (its row exists); the caller holds the part's claim. */
  part?: RunPart;
  /** The template as pre-flight found it (herald run checks it while the warehouse opens); else runJob asks the provider. */
  preflight?: Preflight;
  /**
   * The segment, already started by the caller with openSegment(wh, loaded, { sending: !dryRun })
   * so that its spool is made while the caller does other work; runJob awaits it where it would
   * have opened it (a SQL error is still a usage error before anything is written) and closes it.
   */
  segment?: Promise<RowStream>;
  /** The phone normalizer, already started by the caller so that its worker boots meanwhile; runJob closes it. */
  phones?: PhoneNormalizer;
}

export interface RunSummary {
  run_id: string;
  job: string;
  run_key: string;
  status: RunRecord['status'];
  dry_run: boolean;
  /** This call continued an earlier attempt of the same run key. */
  resumed: boolean;
  /** The run key had already finished: nothing was done. */
  already_finished: boolean;
  counts: RunCounts;
  /** failed / (accepted + failed + unknown), or 0 when nothing was attempted. */
  failure_ratio: number;
  error: string | null;
  exit_code: 0 | 1 | 3;
  /** The portfolio's messaging limit as this run met it (unique recipients in the next 24 h), when known. */
  messaging_limit?: BudgetReport;
}

export async function runJob(o: RunOptions): Promise<RunSummary> {
  const { job } = o.loaded;
  const dryRun = o.dryRun ?? false;
  const rateProblem = jobRateProblem(o.provider, job.delivery.rate_per_second, o.loaded.file);
  if (rateProblem) {
    await closeOpening(o.segment);
    await o.phones?.close();
    throw new ConfigError([rateProblem]);
  }
  // Started at once, awaited where each is needed (issue 14: the first send waits for the longest of
  // them, not for their sum): the segment's query and spool (DuckDB's threads), the phone worker
  // (its thread and libphonenumber's metadata), and the sender's throughput and messaging limit
  // (round trips to the provider).
  const watchSince = new Date(); // template news from here on: pre-flight has read what came before
  const opening = o.segment ?? openSegment(o.wh, o.loaded, { ...(o.params ? { overrides: o.params } : {}), sending: !dryRun });
  opening.catch(() => undefined); // awaited below, or closed on an early throw
  const phones = o.phones ?? createPhoneNormalizer();
  const provider = prefetchSenderFacts(o.provider, job.message.sender, job.message.template !== undefined);
  let segment: RowStream;
  let category: string | null;
  try {
    // The template as the provider has it now: not approved, re-categorised, or wrong for the API is
    // a usage error (exit 2) before anything is written; its category decides country rules and the API path.
    const checked = o.preflight ?? await checkTemplateNow(o);
    if (checked.problems.length > 0) throw new ConfigError(checked.problems);
    const template = checked.template;
    if (template?.quality && /^(RED|YELLOW|LOW|MEDIUM)$/i.test(template.quality)) {
      o.logger.warn({ template: template.name, quality: template.quality }, 'the template\'s quality is low: Meta may pause it, and a paused template stops the run');
    }
    category = runCategory(job, template);
    // Bad SQL or a missing column is a usage error (exit 2): raised before anything is written.
    segment = await opening;
  } catch (err) {
    await closeOpening(opening);
    await phones.close();
    throw err;
  }
  let lock: HeldLock | null;
  try {
    lock = await o.wh.tryLock(`herald:job:${job.name}`, { shared: o.part !== undefined });
  } catch (err) {
    await segment.close();
    await phones.close();
    throw err;
  }
  if (!lock) {
    await segment.close();
    await phones.close();
    throw new RunAbortedError(`job ${job.name} is already running in another process; one run of a job at a time`);
  }
  try {
    const now = o.now ?? (() => new Date());
    // Holding the job's lock, any whole run of it still marked running belongs to a process that
    // died. Holding a part's claim, so do the part's own rows still in flight.
    const stale = o.part ? [] : await findRunningRuns(o.wh, job.name);
    await recoverInterrupted(o.wh, stale.map((r) => r.run_id));
    const ours = o.part ? (send: PartKey) => partOf(send.recipient, send.row_key, o.part!.of) === o.part!.index : undefined;
    if (o.part) await recoverInterrupted(o.wh, [o.part.runId], ours);
    if (!dryRun) {
      const reconciled = await reconcileUnknowns(o.wh, job, now(), ours);
      if (reconciled.settled + reconciled.released > 0) o.logger.info({ job: job.name, ...reconciled }, 'unknown sends settled by webhooks');
    }
    const { run, resumed } = await startOrResume(o, dryRun, now(), stale);
    if (run.status === 'succeeded') {
      await segment.close();
      return summarize(run, await countSends(o.wh, run.run_id), { resumed: false, alreadyFinished: true }, job.delivery.max_failure_ratio);
    }
    // Resumed by its key after it stopped (aborted, failed): its rows still in flight had their
    // request go out, or not, and their answer never landed (the warehouse went away before the
    // settlement was written). They are unknown, as after a crash, never sent again blindly:
    // chaos (PostgreSQL restarted under a run) messaged 21 people twice when the resumed run took
    // them up as pending. A part's own rows were recovered above.
    if (resumed && !o.part) await recoverInterrupted(o.wh, [run.run_id]);
    o.logger.info({ run_id: run.run_id, run_key: run.run_key, job: job.name, dry_run: dryRun, resumed }, resumed ? 'resuming run' : 'run started');
    o.onStarted?.({ run_id: run.run_id, run_key: run.run_key, resumed });

    // The total comes from a count on its own connection: progress shows it when known, and the
    // first send never waits for it. It starts with the first rows landed, not before: its scan
    // (the whole file again for a read_csv source) would take the CPU the first send needs.
    let total: number | undefined;
    let counting = false;
    const progress = o.onProgress && ((t: Tally) => {
      if (!counting) {
        counting = true;
        void countSegment(o.wh, o.loaded, o.params).then((n) => (total = n), () => undefined);
      }
      o.onProgress!(total === undefined ? t : { ...t, total });
    });
    const ledger = new Ledger(o.wh, job, now, progress);
    let status: RunRecord['status'] = 'succeeded';
    let error: string | null = null;
    let budget: MessagingBudget | null = null;
    try {
      budget = await openBudget({
        wh: o.wh, job, provider, dryRun, now: now(), logger: o.logger,
        scope: { provider: o.provider.name, senders: o.provider.portfolioSenders ?? null }, ...(o.stop ? { stop: o.stop } : {}),
      });
      if (budget && !dryRun && job.delivery.over_messaging_limit === 'refuse') await refuseOverBudget(o, budget, run.run_id);
      const rows = segmentRows(segment, o.limit);
      const drafts = normalize(job, rows, phones);
      const ours = o.part ? keepPart(drafts, o.part) : drafts;
      const rendered = render(job, ours, { lastInbound: (recipients) => findLastInbound(o.wh, recipients) });
      const decided = decide(rendered, {
        job, runId: run.run_id, dryRun, resumed, resendUnknown: o.resendUnknown ?? false, resendsSafely: o.provider.resendsSafely ?? false, wh: o.wh, now,
        category, api: apiPath(job, category), budget,
      });
      const stop = o.stop ? AbortSignal.any([o.stop, lock.lost]) : lock.lost;
      // A job's rate is the run's: its parts, wherever they run, share it evenly.
      const jobRate = job.delivery.rate_per_second === undefined ? undefined : job.delivery.rate_per_second / (o.part?.of ?? 1);
      const pacing = await o.senders.open({ provider, sender: job.message.sender, jobRate, wh: o.wh, stop });
      ledger.settleWithin(batchWindowMs(pacing.limiter.ratePerSecond, o.wh.minBatchWindowMs));
      // A template paused, disabled or re-categorised while the run sends stops it (webhooks land in herald.events).
      const watch = job.message.template && !dryRun
        ? watchTemplate({ wh: o.wh, provider: o.provider.name, template: job.message.template, category, since: watchSince, everyMs: templateWatchMs(), logger: o.logger })
        : null;
      try {
        o.logger.info({ run_id: run.run_id, sender: job.message.sender, cap: pacing.cap.rate, cap_from: pacing.cap.source }, 'sender paced');
        await dispatch(decided, {
          ledger, provider: o.provider, now, limiter: pacing.limiter, pairs: pacing.pairs,
          ...(job.delivery.concurrency ? { concurrency: job.delivery.concurrency } : {}),
          stop: AbortSignal.any([stop, pacing.lost, ...(watch ? [watch.signal] : [])]),
        });
      } finally {
        watch?.close();
        await pacing.close();
      }
    } catch (err) {
      // The provider refused the account, the run was stopped, or the warehouse went away: the
      // rows not sent are pending, and the same run key continues them.
      [status, error] = err instanceof RunAbortedError || err instanceof LeaseNotTaken || isConnectionLoss(err) ? ['aborted', errorMessage(err)] : ['failed', errorMessage(err)];
      o.logger.error({ run_id: run.run_id, err: errorMessage(err) }, 'run stopped');
    } finally {
      await segment.close();
      await ledger.idle().catch(() => undefined);
      await budget?.close(); // after the ledger: the next run of the portfolio counts these sends
    }
    let counts: RunCounts;
    try {
      counts = await countSends(o.wh, run.run_id);
      // A part's end is its worker's to record: the run ends with its last part (run-queue.ts).
      if (!o.part) await finishRun(o.wh, run.run_id, status, counts, error);
    } catch (err) {
      throw new WarehouseError(`run ${run.run_id} stopped (${error ?? status}) and its end could not be recorded: ${errorMessage(err)}; ` +
        `run again with --run-key ${run.run_key} to continue it`, { cause: err });
    }
    const summary = summarize({ ...run, status, error }, counts, { resumed, alreadyFinished: false }, job.delivery.max_failure_ratio);
    if (budget) summary.messaging_limit = budget.report();
    // Once per run: a part's end is "part finished"; its worker logs "run finished" when the last part ends.
    o.logger.info({ run_id: run.run_id, job: job.name, status, counts, failure_ratio: summary.failure_ratio, exit_code: summary.exit_code, ...(o.part ? { part: o.part.index + 1 } : {}) },
      o.part ? 'part finished' : 'run finished');
    return summary;
  } finally {
    await segment.close(); // idempotent; covers every early return and throw above
    await phones.close(); // normalize closes it when it ran; this covers the runs that never read a row
    await lock.release();
  }
}

/** Closes a segment still being opened, whatever its query comes to. */
async function closeOpening(opening: Promise<RowStream> | undefined): Promise<void> {
  await opening?.then((s) => s.close(), () => undefined);
}

/**
 * The provider with the sender's throughput level and messaging limit already asked for: the
 * budget and the pacing read them after the spool, the requests go out before it. Each answer (or
 * error) is the one the provider gives; only the moment of asking moves.
 */
function prefetchSenderFacts(provider: Provider, sender: string, needsLimit: boolean): Provider {
  const early = <T>(ask: (() => Promise<T>) | undefined): Promise<T> | undefined => {
    if (!ask) return undefined;
    const answer = ask();
    answer.catch(() => undefined); // the reader handles it; a run that ends before reading it must not crash
    return answer;
  };
  const throughput = early(provider.senderThroughput && (() => provider.senderThroughput!(sender)));
  const limit = needsLimit ? early(provider.messagingLimit && (() => provider.messagingLimit!(sender))) : undefined;
  return new Proxy(provider, {
    get(target, prop) {
      if (prop === 'senderThroughput' && throughput) return (s: string) => (s === sender ? throughput : target.senderThroughput!(s));
      if (prop === 'messagingLimit' && limit) return (s: string) => (s === sender ? limit : target.messagingLimit!(s));
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * The Cloud API path of the run's sends: `marketing_messages` (the Marketing Messages API) when the
 * job asks for it, or for `auto` when the template is marketing; else `messages`. Null for other providers.
 */
export function apiPath(job: Job, category: string | null): 'messages' | 'marketing_messages' | null {
  if (job.message.provider !== 'meta') return null;
  const api = job.message.meta?.api ?? 'messages';
  if (job.message.template === undefined) return 'messages';
  return api === 'marketing_messages' || (api === 'auto' && category === 'marketing') ? 'marketing_messages' : 'messages';
}

/**
 * delivery.over_messaging_limit: refuse. Before the first send: the segment's rows not yet settled
 * in this run are at most that many new recipients; when those might not fit, the segment is
 * normalized once more to count its distinct recipients herald has not messaged in 24 h. Refused
 * runs end `aborted`, nothing sent; `defer` sends up to the limit instead.
 */
async function refuseOverBudget(o: RunOptions, budget: MessagingBudget, runId: string): Promise<void> {
  const [stored] = await o.wh.query<{ n: number | string }>('SELECT count(*) AS n FROM herald.sends WHERE run_id = $1', [runId]);
  const rows = Math.min(await countSegment(o.wh, o.loaded, o.params), o.limit ?? Infinity);
  const upper = Math.max(0, rows - Number(stored?.n ?? 0));
  if (upper <= budget.left) return;
  const fresh = await newRecipients(o, budget);
  if (fresh <= budget.left) return;
  const r = budget.report();
  throw new RunAbortedError(`the audience would pass the messaging limit: ${fresh} recipients not messaged in the last 24 h, ` +
    `${budget.left} of ${r.limit} unique users per 24 h left (${r.source}; ${r.used_24h} messaged from the portfolio in the last 24 h); nothing was sent. ` +
    'Set delivery.over_messaging_limit: defer to send up to the limit and defer the rest, or run later');
}

/** Distinct recipients of the segment (this part of it) that would take a unit of the budget. */
async function newRecipients(o: RunOptions, budget: MessagingBudget): Promise<number> {
  const { job } = o.loaded;
  const segment = await openSegment(o.wh, o.loaded, { ...(o.params ? { overrides: o.params } : {}), sending: false });
  const seen = new Set<string>();
  try {
    const drafts = normalize(job, segmentRows(segment, o.limit));
    for await (const batch of o.part ? keepPart(drafts, o.part) : drafts) {
      for (const d of batch) if (!d.verdict && d.recipient && !budget.counted(d.recipient)) seen.add(d.recipient);
    }
  } finally {
    await segment.close();
  }
  return seen.size;
}

/** How often a sending run looks for news of its template (HERALD_TEMPLATE_WATCH_MS, default 5 s). */
function templateWatchMs(): number {
  const ms = Number(process.env.HERALD_TEMPLATE_WATCH_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : 5000;
}

/** Pre-flight from inside a run (serve, workers): a listing that fails is a warning, not a stop. */
async function checkTemplateNow(o: RunOptions): Promise<Preflight> {
  const { job, file } = o.loaded;
  try {
    return await preflight(job, file, o.provider, JSON.stringify([o.provider.name, job.message.sender]), { refresh: true });
  } catch (err) {
    o.logger.warn({ err: errorMessage(err) }, 'could not list the provider\'s templates; sending without the pre-flight check');
    return { problems: [] };
  }
}

/**
 * The run this call continues, or a new one. A run key names its run; without one, a run left
 * running by a process that died is continued (its pending rows are owed to its audience). Other
 * dead runs are marked aborted: their rows stay as they are.
 */
async function startOrResume(o: RunOptions, dryRun: boolean, now: Date, stale: readonly StoredRun[]): Promise<{ run: StoredRun; resumed: boolean }> {
  const { job } = o.loaded;
  if (o.part) {
    const planned = await findRun(o.wh, o.part.runId);
    if (!planned) throw new WarehouseError(`run ${o.part.runId} has parts to run but no row in herald.runs; enqueue it again with POST /runs`);
    return { run: planned, resumed: true }; // other parts (or an earlier claim of this one) may have written rows
  }
  const existing = o.runKey !== undefined
    ? await findRunByKey(o.wh, job.name, o.runKey)
    : stale.find((r) => Boolean(r.dry_run) === dryRun);
  const others = stale.filter((r) => r.run_id !== existing?.run_id);
  if (others.length > 0) {
    await abortRuns(o.wh, others.map((r) => r.run_id), now);
    o.logger.warn({ runs: others.map((r) => r.run_id) }, 'marked runs left running by a process that died as aborted');
  }
  if (existing) {
    if (existing.parts != null) {
      throw ConfigError.of('--run-key', '', `run key "${o.runKey}" belongs to a run of ${job.name} enqueued in parts (POST /runs or a schedule); its workers run it`,
        'use another run key, or let `herald serve` / `herald worker` finish it (GET /runs/:id shows how far it is)');
    }
    if (Boolean(existing.dry_run) !== dryRun) {
      throw ConfigError.of('--run-key', '', `run key "${o.runKey}" belongs to a ${existing.dry_run ? 'dry' : 'real'} run of ${job.name}`,
        'use another run key for this kind of run');
    }
    if (existing.status === 'succeeded') return { run: existing, resumed: false };
    await o.wh.update(RUNS, [{ run_id: existing.run_id, status: 'running', finished_at: null, error: null }], ['status', 'finished_at', 'error']);
    return { run: { ...existing, status: 'running' }, resumed: true };
  }
  const runId = newRunId(now);
  const run: RunRecord = { run_id: runId, job: job.name, run_key: o.runKey ?? runId, status: 'running', dry_run: dryRun, started_at: now, finished_at: null, error: null };
  await insertRun(o.wh, run);
  return { run, resumed: false };
}

function summarize(run: StoredRun, counts: RunCounts, how: { resumed: boolean; alreadyFinished: boolean }, maxFailureRatio: number | undefined): RunSummary {
  const attempted = counts.accepted + counts.failed + counts.unknown;
  const failureRatio = attempted === 0 ? 0 : counts.failed / attempted;
  const exitCode = run.status !== 'succeeded' ? 1 : maxFailureRatio !== undefined && failureRatio > maxFailureRatio ? 3 : 0;
  return {
    run_id: run.run_id, job: run.job, run_key: run.run_key, status: run.status, dry_run: Boolean(run.dry_run),
    resumed: how.resumed, already_finished: how.alreadyFinished, counts, failure_ratio: failureRatio, error: run.error ?? null, exit_code: exitCode,
  };
}

export function isHeraldError(err: unknown): err is HeraldError {
  return err instanceof HeraldError;
}
