/** `GET /readyz`: 200 while the warehouse answers, 503 with the reason while it does not (readiness; /healthz is liveness). */
import type { Route } from './router.js';
import type { WarehouseProbe } from './warehouse-probe.js';

export function readyRoute(probe: WarehouseProbe): Route {
  return {
    method: 'GET',
    path: '/readyz',
    handle: async () => {
      const down = await probe();
      return down === null ? { status: 200, body: { status: 'ready' } } : { status: 503, body: { status: 'unavailable', reason: down } };
    },
  };
}
