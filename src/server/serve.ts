/**
 * `herald serve` assembled: the group-commit event sink, the providers' webhook adapters, the
 * route table (webhooks, /healthz, /readyz and the routes given), the listening server — and a
 * close() that stops taking requests, lets those in flight finish, and waits for their events to
 * be written.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RuntimeConfig } from '../config/runtime.schema.js';
import { consentRules } from '../consent/rules.js';
import { eventSink, type ProviderEvent } from '../events/event.js';
import type { Logger } from '../log.js';
import { recordHttpRequest } from '../observability/metrics.js';
import { adaWebhook } from '../providers/ada/ada.webhook.js';
import { infobipWebhook } from '../providers/infobip/infobip.webhook.js';
import { metaWebhook } from '../providers/meta/meta.webhook.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { healthRoute } from './health.route.js';
import { createHttpServer } from './http.server.js';
import { readyRoute } from './ready.route.js';
import type { Route } from './router.js';
import { warehouseProbe } from './warehouse-probe.js';
import { webhookRoutes } from './webhook.routes.js';

/** How long requests under way may take to finish once the server is closing. */
const CLOSE_GRACE_MS = 10_000;

export interface ServeOptions {
  config: RuntimeConfig;
  wh: Warehouse;
  logger: Logger;
  /** Default: config.server.port (HERALD_PORT); 0 picks a free port. */
  port?: number;
  host?: string;
  /** More endpoints (run API, metrics, …), added to the table as they are. */
  routes?: readonly Route[];
  /** Where events go; default: a group-commit sink into `wh`. */
  land?: (events: ProviderEvent[]) => Promise<void>;
  onReply?: Parameters<typeof createHttpServer>[0]['onReply'];
}

export interface ServeHandle {
  server: Server;
  port: number;
  /** `http://host:port` (127.0.0.1 when listening on every interface). */
  url: string;
  close(): Promise<void>;
}

export async function startServe(o: ServeOptions): Promise<ServeHandle> {
  const { config, logger } = o;
  const sink = eventSink(() => o.wh);
  const rules = consentRules(config.consent);
  const { meta, infobip, ada } = config.providers;
  const missing = [
    !meta.app_secret && 'META_APP_SECRET', !meta.verify_token && 'META_VERIFY_TOKEN',
    !infobip.webhook_secret && 'INFOBIP_WEBHOOK_SECRET', !ada.webhook_secret && 'ADA_WEBHOOK_SECRET',
  ].filter(Boolean);
  if (missing.length > 0) logger.warn({ unset: missing }, 'webhooks of these providers will be refused (401/403) until the variables are set');
  const probe = warehouseProbe(() => o.wh);
  const routes: Route[] = [
    healthRoute(() => ({ warehouse: o.wh.kind })),
    readyRoute(probe),
    ...webhookRoutes({
      land: o.land ?? sink.land, probe, logger, metaVerifyToken: meta.verify_token,
      meta: metaWebhook(meta, rules), infobip: infobipWebhook(infobip, rules), ada: adaWebhook(ada, rules),
    }),
    ...(o.routes ?? []),
  ];
  const server = createHttpServer({
    routes, logger, maxBodyBytes: config.server.max_body_bytes,
    onReply: (route, method, status, ms) => {
      // By the route's pattern: `/runs/:id`, never the id, so the series stay few.
      recordHttpRequest(route?.path ?? 'unmatched', method, status, ms / 1000);
      o.onReply?.(route, method, status, ms);
    },
  });
  const host = o.host ?? config.server.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? config.server.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    server, port, url: `http://${shown}:${port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A provider posting webhooks back to back keeps its keep-alive connections busy: each is
      // closed as soon as it is between requests, and whatever is left after the grace period
      // is cut (its requests are retried by the provider; their events were not acknowledged).
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const deadline = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      try {
        await closed;
      } finally {
        clearInterval(sweep);
        clearTimeout(deadline);
      }
      await sink.idle();
    },
  };
}
