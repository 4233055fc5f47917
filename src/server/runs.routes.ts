/**
 * The run API for workflows (Treasure Data http>, Airflow, scripts):
 *   POST /runs {job, run_key, params?, dry_run?}  → 202 {run_id, status_url, status, created, failure_ratio, exit_code}
 *   GET  /runs/:id                                → 200 the run with live counts, failure_ratio and exit_code
 * Both need `Authorization: Bearer <HERALD_API_TOKEN>`, compared in constant time. The same run
 * key answers with the same run, so a workflow may retry its POST freely. The POST answers as soon
 * as the run's row exists (it never waits for the segment query); `failure_ratio` and `exit_code`
 * (what `herald run` would have exited with: 0, 1 or 3) are null until the run has ended.
 */
import { z } from 'zod';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { JobNotFound } from '../runs/job-catalog.js';
import { JobBusy, type RunService } from '../runs/run-service.js';
import { UnknownParams } from '../runs/segment-params.js';
import { safeEqual } from '../util/safe-equal.js';
import type { Route, RouteReply, RouteRequest } from './router.js';

const TriggerSchema = z.strictObject({
  job: z.string().regex(/^[a-z0-9_]+$/, 'a job name: lowercase letters, digits and _'),
  run_key: z.string().min(1).max(200),
  params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  dry_run: z.boolean().optional(),
});

export function runRoutes(service: RunService, apiToken: string | undefined, logger: Logger): Route[] {
  const guard = (handle: (r: RouteRequest) => Promise<RouteReply>) => async (r: RouteRequest): Promise<RouteReply> => {
    if (!apiToken) return { status: 401, body: { error: 'the run API is off: set HERALD_API_TOKEN on the server' } };
    if (!safeEqual(/^Bearer\s+(.+)$/i.exec(r.req.headers.authorization ?? '')?.[1] ?? '', apiToken)) return { status: 401, headers: { 'www-authenticate': 'Bearer' }, body: { error: 'missing or wrong bearer token' } };
    return handle(r);
  };
  return [
    {
      method: 'POST', path: '/runs', body: true,
      handle: guard(async ({ body }) => {
        let parsed: z.infer<typeof TriggerSchema>;
        try {
          const result = TriggerSchema.safeParse(JSON.parse(body.toString('utf8')));
          if (!result.success) return { status: 400, body: { error: 'invalid request', problems: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } };
          parsed = result.data;
        } catch {
          return { status: 400, body: { error: 'the body is not JSON' } };
        }
        try {
          const { run_id, created, status } = await service.trigger({
            job: parsed.job, runKey: parsed.run_key, ...(parsed.params ? { params: parsed.params } : {}), ...(parsed.dry_run !== undefined ? { dryRun: parsed.dry_run } : {}),
          });
          // A new run has just its row: nothing to read back. A repeat says where the run is now.
          const view = status ? undefined : await service.view(run_id);
          return {
            status: 202,
            body: { run_id, status_url: `/runs/${run_id}`, status: status ?? view?.status ?? 'running', created, failure_ratio: view?.failure_ratio ?? null, exit_code: view?.exit_code ?? null },
          };
        } catch (err) {
          if (err instanceof JobNotFound) return { status: 404, body: { error: err.message } };
          if (err instanceof UnknownParams) return { status: 400, body: { error: err.message, unknown: err.unknown, params: err.known } };
          if (err instanceof ConfigError) return { status: 422, body: { error: `job ${parsed.job} is not valid`, problems: err.problems } };
          if (err instanceof JobBusy) return { status: 409, body: { error: err.message } };
          logger.error({ job: parsed.job, err: errorMessage(err) }, 'run API: could not start the run');
          return { status: 500, body: { error: errorMessage(err) } };
        }
      }),
    },
    {
      method: 'GET', path: '/runs/:id',
      handle: guard(async ({ params }) => {
        const view = await service.view(params.id!);
        return view ? { status: 200, body: view } : { status: 404, body: { error: `no run ${params.id}` } };
      }),
    },
  ];
}
