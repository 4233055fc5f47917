/** GET /metrics: the Prometheus text format. */
import { metricsText } from '../observability/metrics.js';
import type { Route } from './router.js';

export function metricsRoute(): Route {
  return {
    method: 'GET', path: '/metrics',
    handle: async () => {
      const { contentType, body } = await metricsText();
      return { status: 200, headers: { 'content-type': contentType }, body };
    },
  };
}
