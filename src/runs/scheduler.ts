/**
 * Schedules: every job with `schedule:` runs on it (node-cron, in the job's time zone) inside
 * `herald serve`. Each firing's run key is the job and the scheduled minute, so two servers that
 * both fire make one run between them; a job still running when its next time comes is skipped,
 * not queued; and times missed while the process was down or blocked are logged, never replayed
 * in a burst.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { JobCatalog } from './job-catalog.js';
import { JobBusy, type RunService } from './run-service.js';

export interface Schedules {
  /** The jobs scheduled, with their next run. */
  readonly jobs: { job: string; schedule: string; timezone: string; next: Date | null }[];
  stop(): Promise<void>;
}

export function startSchedules(catalog: JobCatalog, service: RunService, logger: Logger): Schedules {
  const { jobs, broken } = catalog.all();
  for (const err of broken) logger.error({ problems: err.problems }, 'a job file is invalid; its schedule (if any) is not running');
  const tasks: ScheduledTask[] = [];
  for (const { job } of jobs) {
    if (!job.schedule) continue;
    const task = cron.schedule(job.schedule, async (ctx) => {
      const runKey = `schedule-${ctx.date.toISOString().slice(0, 16)}`;
      try {
        const { run_id, created } = await service.trigger({ job: job.name, runKey });
        logger.info({ job: job.name, run_id, run_key: runKey, created }, created ? 'scheduled run started' : 'scheduled run already exists');
      } catch (err) {
        if (err instanceof JobBusy) logger.warn({ job: job.name, run_key: runKey }, 'scheduled run skipped: the job is still running');
        else logger.error({ job: job.name, run_key: runKey, err: errorMessage(err) }, 'scheduled run could not start');
      }
    }, { timezone: job.timezone, name: job.name, noOverlap: true, suppressMissedWarning: true });
    task.on('execution:missed', (ctx) => logger.warn({ job: job.name, missed: ctx.date.toISOString() }, 'a scheduled time was missed; it is not replayed'));
    tasks.push(task);
  }
  return {
    jobs: tasks.map((t, i) => {
      const job = jobs.filter((j) => j.job.schedule)[i]!.job;
      return { job: job.name, schedule: job.schedule!, timezone: job.timezone, next: t.getNextRun() };
    }),
    async stop() {
      for (const t of tasks) await t.destroy();
    },
  };
}
