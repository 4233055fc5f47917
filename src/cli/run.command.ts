/**
 * `herald run <job> [--dry-run] [--limit N] [--run-key K] [--resend-unknown] [--json]`. With --json
 * stdout holds exactly one JSON document (the summary) and everything meant for people goes to stderr.
 *
 * Start-up is ordered for the first send (issue 14, bench/cli-first-send.ts): the template listing
 * goes out and the phone worker boots while the warehouse opens, and the segment's spool (DuckDB's
 * own threads) is made while this thread loads the pipeline's modules. Nothing is written and nothing sent before the
 * pre-flight check has passed: a refused template closes the spool and exits 2, as before.
 */
import { ConfigError, errorMessage } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { stopRecording } from '../observability/metrics.js';
import type { BudgetReport } from '../pipeline/messaging-budget.js';
import { createPhoneNormalizer } from '../pipeline/phone.pool.js';
import { openSegment } from '../pipeline/segment.js';
import { preflight, templateAccount, type Preflight } from '../preflight/template-check.js';
import type { RowStream } from '../warehouse/warehouse.js';
import { prepareJobContext, type JobContext, type PreparedJob } from './context.js';
import { progressPrinter } from './progress.js';

export async function runCommand(positionals: string[], flags: Record<string, unknown>): Promise<number> {
  if (positionals.length !== 1) throw ConfigError.of('herald run', '', 'give exactly one job file', 'herald run jobs/demo.yaml');
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw ConfigError.of('--limit', '', `"${String(flags.limit)}" is not a positive whole number`);
  const dryRun = flags['dry-run'] === true;
  if (dryRun && flags['resend-unknown'] === true) throw ConfigError.of('--resend-unknown', '', 'a dry run sends nothing; drop --resend-unknown or --dry-run');

  stopRecording(); // nothing scrapes a one-shot run: prom-client stays unloaded (observability/metrics.ts)
  const prepared = prepareJobContext(positionals[0]!);
  // The phone worker boots (its thread, libphonenumber's metadata) while the warehouse opens and the spool is made.
  const phones = createPhoneNormalizer();
  const logger = createLogger();
  // A round trip to the provider, under way while the warehouse opens; awaited before anything is written.
  const checking = checkTemplateFirst(prepared, logger);
  checking.catch(() => undefined); // awaited below; this only marks it handled while the warehouse opens
  let ctx: JobContext;
  try {
    ctx = await prepared.open();
  } catch (err) {
    await prepared.provider.close();
    await phones.close();
    throw err;
  }
  // The segment's SQL starts now (a bad query is still exit 2 from runJob, before anything is written).
  const segment = openSegment(ctx.wh, ctx.loaded, { sending: !dryRun });
  segment.catch(() => undefined); // runJob awaits it
  let checked: Preflight;
  let modules: [typeof import('../pipeline/run-job.js'), typeof import('../dispatch/senders.js')];
  try {
    // What only the run itself needs is loaded while DuckDB makes the spool.
    modules = await Promise.all([import('../pipeline/run-job.js'), import('../dispatch/senders.js')]);
    checked = await checking;
  } catch (err) {
    await closeSegment(segment);
    await phones.close();
    await ctx.close();
    throw err;
  }
  const [{ runJob }, { createSenders }] = modules;
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130); // a second signal: the user insists
    logger.warn({ signal }, 'stopping: no new rows; sends in flight will settle');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const senders = await createSenders(process.env, logger);
  const progress = progressPrinter(ctx.loaded.job.name, process.stderr, limit);
  try {
    const summary = await runJob({
      loaded: ctx.loaded, wh: ctx.wh, provider: ctx.provider, senders, logger, segment, phones,
      dryRun, ...(limit ? { limit } : {}), ...(typeof flags['run-key'] === 'string' ? { runKey: flags['run-key'] } : {}),
      resendUnknown: flags['resend-unknown'] === true, stop: stop.signal, preflight: checked, onProgress: (t) => progress.update(t),
    });
    progress.stop();
    if (summary.already_finished) console.error(`run key ${summary.run_key} already finished as run ${summary.run_id}; nothing was sent`);
    await ctx.provider.close(); // lets late provider events land before the funnel is read
    const [{ funnel, funnelTable, reasons }, { dryRunCost }] = await Promise.all([import('../report/funnel.js'), import('../cost/estimate.js')]);
    const rows = await funnel(ctx.wh, { runId: summary.run_id });
    const say = flags.json === true ? console.error : console.log; // --json: stdout is the summary alone
    say(funnelTable(rows, await reasons(ctx.wh, [summary.run_id])));
    const cost = await dryRunCost(ctx, summary); // a dry run's estimated cost, from the rate card
    if (cost) say(cost.text);
    if (summary.messaging_limit) say(messagingLimitLine(summary.messaging_limit, summary.dry_run));
    if (summary.error) console.error(`run ${summary.status}: ${summary.error}`);
    if (summary.exit_code === 3) console.error(`failure ratio ${(summary.failure_ratio * 100).toFixed(1)}% is above max_failure_ratio`);
    if (flags.json === true) console.log(JSON.stringify(cost ? { ...summary, estimated_cost: cost.estimate } : summary));
    return summary.exit_code;
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await closeSegment(segment); // runJob closes it; this covers a run that threw before it took it
    await phones.close(); // the same (terminating a worker twice is a no-op)
    await senders.close();
    await ctx.close();
  }
}

/** Closes the segment whether its query succeeded or not (a failed one has nothing to close). */
async function closeSegment(segment: Promise<RowStream>): Promise<void> {
  await segment.then((s) => s.close(), () => undefined);
}

/** Unique recipients the portfolio will have reached in the next 24 h, against its messaging limit. */
function messagingLimitLine(r: BudgetReport, dryRun: boolean): string {
  const limit = r.limit === null ? (r.source === 'not known' ? 'limit not known' : `unlimited (${r.source})`) : `limit ${r.limit} (${r.source})`;
  const deferred = r.deferred > 0 ? `; ${r.deferred} ${dryRun ? 'would be' : ''} deferred as over the limit`.replace('  ', ' ') : '';
  return `unique recipients in the next 24 h: ${r.next_24h} (${r.used_24h} messaged in the last 24 h + ${r.new_recipients} new in this run), ${limit}${deferred}`;
}

/**
 * The job's mapping against the template as the provider has it now (status, category), before
 * anything is written: a mismatch is exit 2. When the listing itself fails the run goes on (the
 * provider's own answers still stop a run whose template is wrong, after a few identical errors),
 * with a warning.
 */
async function checkTemplateFirst(ctx: PreparedJob, logger: Logger): Promise<Preflight> {
  const { job, file } = ctx.loaded;
  let checked: Preflight;
  try {
    checked = await preflight(job, file, ctx.provider, templateAccount(job.message.provider, ctx.config.config, job.message.sender), { refresh: true });
  } catch (err) {
    logger.warn({ err: errorMessage(err) }, 'could not list the provider\'s templates; sending without the pre-flight check');
    return { problems: [] };
  }
  if (checked.problems.length > 0) throw new ConfigError(checked.problems);
  return checked;
}
