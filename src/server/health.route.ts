/** `GET /healthz`: the process is up and serving (liveness: 200 even while the warehouse is down; that is /readyz). */
import type { Route } from './router.js';

export function healthRoute(describe: () => Record<string, unknown> = () => ({})): Route {
  const started = Date.now();
  return {
    method: 'GET',
    path: '/healthz',
    handle: () => ({ status: 200, body: { status: 'ok', uptime_s: Math.round((Date.now() - started) / 1000), ...describe() } }),
  };
}
