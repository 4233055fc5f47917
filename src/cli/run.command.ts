/**
 * `herald run <job> [--dry-run] [--limit N] [--run-key K] [--resend-unknown] [--json]`. With --json
 * stdout holds exactly one JSON document (the summary) and everything meant for people goes to stderr.
 */
import { ConfigError, errorMessage } from '../errors.js';
import { dryRunCost } from '../cost/estimate.js';
import { createSenders } from '../dispatch/senders.js';
import { createLogger, type Logger } from '../log.js';
import { preflight, templateAccount, type Preflight } from '../preflight/template-check.js';
import { runJob } from '../pipeline/run-job.js';
import type { BudgetReport } from '../pipeline/messaging-budget.js';
import { funnel, funnelTable, reasons } from '../report/funnel.js';
import { openJobContext, type JobContext } from './context.js';
import { progressPrinter } from './progress.js';

export async function runCommand(positionals: string[], flags: Record<string, unknown>): Promise<number> {
  if (positionals.length !== 1) throw ConfigError.of('herald run', '', 'give exactly one job file', 'herald run jobs/demo.yaml');
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw ConfigError.of('--limit', '', `"${String(flags.limit)}" is not a positive whole number`);
  const dryRun = flags['dry-run'] === true;
  if (dryRun && flags['resend-unknown'] === true) throw ConfigError.of('--resend-unknown', '', 'a dry run sends nothing; drop --resend-unknown or --dry-run');

  const ctx = await openJobContext(positionals[0]!);
  const logger = createLogger();
  let checked: Preflight;
  try {
    checked = await checkTemplateFirst(ctx, logger);
  } catch (err) {
    await ctx.close();
    throw err;
  }
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130); // a second signal: the user insists
    logger.warn({ signal }, 'stopping: no new rows; sends in flight will settle');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const senders = createSenders(process.env, logger);
  const progress = progressPrinter(ctx.loaded.job.name, process.stderr, limit);
  try {
    const summary = await runJob({
      loaded: ctx.loaded, wh: ctx.wh, provider: ctx.provider, senders, logger,
      dryRun, ...(limit ? { limit } : {}), ...(typeof flags['run-key'] === 'string' ? { runKey: flags['run-key'] } : {}),
      resendUnknown: flags['resend-unknown'] === true, stop: stop.signal, preflight: checked, onProgress: (t) => progress.update(t),
    });
    progress.stop();
    if (summary.already_finished) console.error(`run key ${summary.run_key} already finished as run ${summary.run_id}; nothing was sent`);
    await ctx.provider.close(); // lets late provider events land before the funnel is read
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
    await senders.close();
    await ctx.close();
  }
}

/** Unique recipients the portfolio will have reached in the next 24 h, against its messaging limit. */
function messagingLimitLine(r: BudgetReport, dryRun: boolean): string {
  const limit = r.limit === null ? (r.source === 'not known' ? 'limit not known' : `unlimited (${r.source})`) : `limit ${r.limit} (${r.source})`;
  const deferred = r.deferred > 0 ? `; ${r.deferred} ${dryRun ? 'would be' : ''} deferred as over the limit`.replace('  ', ' ') : '';
  return `unique recipients in the next 24 h: ${r.next_24h} (${r.used_24h} messaged in the last 24 h + ${r.new_recipients} new in this run), ${limit}${deferred}`;
}

/**
 * The job's mapping against the template as the provider has it now (status, category), before
 * anything is opened: a mismatch is exit 2. When the listing itself fails the run goes on (the
 * provider's own answers still stop a run whose template is wrong, after a few identical errors),
 * with a warning.
 */
async function checkTemplateFirst(ctx: JobContext, logger: Logger): Promise<Preflight> {
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
