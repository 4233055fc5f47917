/**
 * `herald serve [--port N] [--jobs DIR]`: webhooks, the run API, schedules, /healthz and /metrics
 * (DESIGN "HTTP") until SIGINT/SIGTERM; on PostgreSQL also the claim loop of `herald worker`, so
 * one serve runs the runs it enqueues. Shutting down: schedules stop, running jobs and parts take
 * no new rows and settle their sends in flight (parts go back to the queue; whole runs end
 * aborted and resume by run key), requests in flight finish, and every event is written before
 * the process exits.
 */
import { loadConfig, warehouseUrl } from '../config/load.js';
import { createSenders } from '../dispatch/senders.js';
import { ConfigError } from '../errors.js';
import { eventSink } from '../events/event.js';
import { createLogger } from '../log.js';
import { JobCatalog } from '../runs/job-catalog.js';
import { configuredProviders, PartWorker } from '../runs/part-worker.js';
import { RunService } from '../runs/run-service.js';
import { startSchedules } from '../runs/scheduler.js';
import { metricsRoute } from '../server/metrics.route.js';
import { runRoutes } from '../server/runs.routes.js';
import { startServe } from '../server/serve.js';
import { openWarehouse } from '../warehouse/open.js';
import { PostgresWarehouse } from '../warehouse/postgres.warehouse.js';
import { partLeaseMs } from './worker.command.js';

export async function serveCommand(positionals: string[], flags: Record<string, unknown>): Promise<number> {
  if (positionals.length > 0) throw ConfigError.of('herald serve', '', `unexpected argument "${positionals[0]}"`, 'herald serve [--port N] [--jobs DIR]');
  let port: number | undefined;
  if (flags.port !== undefined) {
    port = Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw ConfigError.of('--port', '', `"${String(flags.port)}" is not a port (0-65535)`);
  }
  const jobsDir = typeof flags.jobs === 'string' ? flags.jobs : (process.env.HERALD_JOBS_DIR ?? 'jobs');
  const leaseMs = partLeaseMs();
  const loaded = loadConfig();
  const logger = createLogger();
  const wh = await openWarehouse(warehouseUrl(loaded, 'default'));
  const stop = new AbortController();
  const events = eventSink(() => wh);
  const catalog = new JobCatalog(jobsDir);
  const senders = await createSenders(process.env, logger);
  const service = new RunService({ config: loaded, wh, catalog, senders, events: events.land, logger, stop: stop.signal });
  if (!loaded.config.server.api_token) logger.warn('HERALD_API_TOKEN is not set: the run API (POST /runs) answers 401 until it is');
  let handle;
  try {
    handle = await startServe({
      config: loaded.config, wh, logger, ...(port !== undefined ? { port } : {}),
      routes: [...runRoutes(service, loaded.config.server.api_token, logger), metricsRoute()],
    });
  } catch (err) {
    await senders.close();
    await wh.close();
    throw err;
  }
  const worker = wh instanceof PostgresWarehouse
    ? new PartWorker({ wh, jobs: catalog, providerFor: configuredProviders(loaded, events.land), senders, logger, stop: stop.signal, leaseMs })
    : null;
  worker?.start();
  const schedules = startSchedules(catalog, service, logger);
  // The one announcement, as a pino line: stderr carries nothing else, so collectors parse every line.
  logger.info({ url: handle.url, warehouse: wh.description, jobs: jobsDir, schedules: schedules.jobs }, 'herald serve listening');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'stopping: no new runs or requests; sends and requests in flight finish and are written');
  try {
    await schedules.stop();
    stop.abort();
    await service.idle();
    await worker?.idle();
    await handle.close();
    await events.idle();
  } finally {
    await senders.close();
    await wh.close();
  }
  return 0;
}
