/**
 * Webhook endpoints (DESIGN "HTTP"): authenticate over the raw bytes (401, nothing landed), parse
 * JSON (400), turn every event into a row (unknown shapes as `other`, with a warning), hand them
 * to the group-commit sink and answer 200 only once they are stored. When they could not be: 400
 * if their content never will be (the provider stops retrying), 503 if the warehouse is the
 * problem (it retries). A bad body never gets a 500.
 */
import { errorMessage } from '../errors.js';
import type { ProviderEvent } from '../events/event.js';
import { UnstorableEvent } from '../events/storable.js';
import { otherEvent, type ParsedWebhook, type WebhookAdapter } from '../events/webhook.js';
import type { Logger } from '../log.js';
import { maskPhone } from '../pipeline/phone.normalize.js';
import { metaVerification } from '../providers/meta/meta.webhook.js';
import type { Route, RouteReply, RouteRequest } from './router.js';
import type { WarehouseProbe } from './warehouse-probe.js';
import { writeFailure } from './write-failure.js';

export interface WebhookRouteDeps {
  /** Resolves once the events are durably written (eventSink().land: one write for concurrent requests). */
  land: (events: ProviderEvent[]) => Promise<void>;
  /** Tells a warehouse outage (503) from events that cannot be stored (400). */
  probe: WarehouseProbe;
  logger: Logger;
  meta: WebhookAdapter;
  infobip: WebhookAdapter;
  ada: WebhookAdapter;
  /** META_VERIFY_TOKEN, for the GET handshake. */
  metaVerifyToken: string | undefined;
}

export function webhookRoutes(d: WebhookRouteDeps): Route[] {
  const post = (path: string, adapter: WebhookAdapter, kindParam?: string): Route => ({
    method: 'POST', path, body: true,
    handle: (r) => ingest(adapter, r, d, kindParam ? r.params[kindParam] : undefined),
  });
  return [
    {
      method: 'GET', path: '/webhooks/meta',
      handle: (r) => {
        const answer = metaVerification(r.url.searchParams, d.metaVerifyToken);
        if (answer.status !== 200) d.logger.warn({ provider: 'meta' }, 'webhook verification refused: hub.mode or hub.verify_token wrong');
        return answer;
      },
    },
    post('/webhooks/meta', d.meta),
    post('/webhooks/infobip', d.infobip),
    post('/webhooks/infobip/:kind', d.infobip, 'kind'),
    post('/webhooks/ada', d.ada),
  ];
}

async function ingest(adapter: WebhookAdapter, r: RouteRequest, d: WebhookRouteDeps, kind: string | undefined): Promise<RouteReply> {
  const provider = adapter.provider;
  const refused = adapter.authenticate({ headers: r.req.headers, query: r.url.searchParams, raw: r.body });
  if (refused) {
    d.logger.warn({ provider, reason: refused }, 'webhook refused: 401, nothing landed');
    return { status: 401, body: { error: 'unauthorized' } };
  }
  let body: unknown;
  try {
    body = JSON.parse(r.body.toString('utf8'));
  } catch (err) {
    d.logger.warn({ provider, bytes: r.body.length, err: errorMessage(err) }, 'webhook body is not JSON: 400');
    return { status: 400, body: { error: 'malformed JSON' } };
  }
  let parsed: ParsedWebhook;
  try {
    parsed = parseBody(adapter, body, kind, d);
    await d.land(parsed.events);
  } catch (err) {
    const failure = await writeFailure(err, d.probe);
    if (failure.status === 400) {
      d.logger.warn({ provider, reason: failure.reason }, 'webhook events cannot be stored: 400, the provider should not retry');
      return { status: 400, body: { error: `events cannot be stored: ${failure.reason}` } };
    }
    d.logger.error({ provider, reason: failure.reason }, 'webhook events not stored: 503, the provider will retry');
    return { status: 503, headers: { 'retry-after': '5' }, body: { error: 'storage unavailable, retry later' } };
  }
  for (const e of parsed.events) {
    if (e.event_type === 'opted_out' || e.event_type === 'opted_in') {
      d.logger.info({ provider, recipient: maskPhone(e.recipient), change: e.event_type, how: e.error_detail }, 'consent change landed');
    }
  }
  return { status: 200, body: { received: parsed.events.length } };
}

/**
 * The adapter's events; a body its parser throws on lands whole as one `other` event, so it is
 * kept (there is no API to fetch old webhooks) rather than refused. Throws only when even that
 * cannot be built (a body too deep to serialize), which answers 400.
 */
function parseBody(adapter: WebhookAdapter, body: unknown, kind: string | undefined, d: WebhookRouteDeps): ParsedWebhook {
  const receivedAt = new Date();
  let parsed: ParsedWebhook;
  try {
    parsed = adapter.parse(body, receivedAt, kind);
  } catch (err) {
    d.logger.error({ provider: adapter.provider, kind, err: errorMessage(err) }, 'webhook parser failed: the body lands whole as other');
    try {
      return { events: [otherEvent(adapter.provider, `unparsed body (${errorMessage(err)})`, body, receivedAt)], unknown: [] };
    } catch (again) {
      throw new UnstorableEvent(`body cannot be read: ${errorMessage(again)}`);
    }
  }
  if (parsed.unknown.length > 0) {
    d.logger.warn({ provider: adapter.provider, kind, unknown: tally(parsed.unknown) }, 'webhook events of unknown shape landed as other');
  }
  return parsed;
}

function tally(items: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const i of items) counts[i] = (counts[i] ?? 0) + 1;
  return counts;
}
