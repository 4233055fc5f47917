/**
 * `herald worker [--jobs DIR] [--parts N]`: claims parts of runs enqueued on PostgreSQL (POST /runs and
 * schedules of any `herald serve`) and runs them, until SIGINT/SIGTERM. Same config and
 * environment as serve; `--parts` is how many parts it runs at once (4). Shutting down: no new parts; running ones take no new rows, settle their
 * sends in flight and go back to the queue, where another worker resumes them.
 */
import { loadConfig, warehouseUrl } from '../config/load.js';
import { createSenders } from '../dispatch/senders.js';
import { ConfigError } from '../errors.js';
import { eventSink } from '../events/event.js';
import { createLogger } from '../log.js';
import { JobCatalog } from '../runs/job-catalog.js';
import { configuredProviders, PartWorker } from '../runs/part-worker.js';
import { openWarehouse } from '../warehouse/open.js';
import { PostgresWarehouse } from '../warehouse/postgres.warehouse.js';

export async function workerCommand(positionals: string[], flags: Record<string, unknown>): Promise<number> {
  if (positionals.length > 0) throw ConfigError.of('herald worker', '', `unexpected argument "${positionals[0]}"`, 'herald worker [--jobs DIR] [--parts N]');
  const jobsDir = typeof flags.jobs === 'string' ? flags.jobs : (process.env.HERALD_JOBS_DIR ?? 'jobs');
  const maxParts = flags.parts === undefined ? undefined : Number(flags.parts);
  if (maxParts !== undefined && (!Number.isInteger(maxParts) || maxParts < 1)) throw ConfigError.of('--parts', '', `"${String(flags.parts)}" is not a positive whole number`, 'herald worker --parts 4');
  const leaseMs = partLeaseMs();
  const loaded = loadConfig();
  const logger = createLogger();
  const wh = await openWarehouse(warehouseUrl(loaded, 'default'));
  if (!(wh instanceof PostgresWarehouse)) {
    await wh.close();
    throw ConfigError.of('HERALD_WAREHOUSE_URL', '', `herald worker needs PostgreSQL, and the default warehouse is ${wh.description}`,
      'set HERALD_WAREHOUSE_URL=postgres://…; on DuckDB, `herald serve` runs every run in its own process');
  }
  const stop = new AbortController();
  const events = eventSink(() => wh);
  const senders = await createSenders(process.env, logger);
  const worker = new PartWorker({ wh, jobs: new JobCatalog(jobsDir), providerFor: configuredProviders(loaded, events.land), senders, logger, stop: stop.signal, leaseMs,
    ...(maxParts ? { maxParts } : {}) });
  worker.start();
  logger.info({ worker: worker.id, warehouse: wh.description, jobs: jobsDir }, 'herald worker claiming parts');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'stopping: no new parts; sends in flight settle and the parts go back to the queue');
  try {
    stop.abort();
    await worker.idle();
    await events.idle();
  } finally {
    await senders.close();
    await wh.close();
  }
  return 0;
}

/**
 * `HERALD_PART_LEASE_MS`: how long a part's claim lasts unrenewed (30000), for serve and worker; the
 * heartbeat renews it every third of that. A killed worker's parts are resumed once it runs out.
 */
export function partLeaseMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.HERALD_PART_LEASE_MS;
  if (raw === undefined || raw.trim() === '') return 30_000;
  const ms = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(ms) || ms < 1000) {
    throw ConfigError.of('HERALD_PART_LEASE_MS', '', `"${raw}" is not a whole number of milliseconds of at least 1000`, 'HERALD_PART_LEASE_MS=30000 (the default), or unset it');
  }
  return ms;
}
