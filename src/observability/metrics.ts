/**
 * Prometheus metrics (prom-client), served by `herald serve` at GET /metrics. One registry per
 * process; the send path, the webhook path, the HTTP server and the run API record into it
 * through these few functions.
 *
 * prom-client and the registry are made on first use, not on import: the send path imports this
 * module, and `herald run`, which serves no /metrics, turns recording off (`stopRecording`)
 * rather than load prom-client before its first send (~40 ms of its start, issue 14).
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { heraldVersion } from '../cli/version.js';

let recording = true;
let made: ReturnType<typeof makeMetrics> | undefined;

/** For a process that serves no metrics: every record function does nothing from now on. */
export function stopRecording(): void {
  recording = false;
}

/** The registry and herald's metrics, made once, when something first records or reads one. */
function metrics(): ReturnType<typeof makeMetrics> {
  return (made ??= makeMetrics());
}

function makeMetrics() {
  // Through require: prom-client is CommonJS, and this is called from synchronous recorders.
  const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = createRequire(import.meta.url)('prom-client') as typeof PromClient;
  const registry = new Registry();
  // Under the standard names (process_*, nodejs_*), so stock Node.js dashboards work as they are.
  collectDefaultMetrics({ register: registry });
  // The same under herald_, as earlier versions exposed them: dashboards built on those keep
  // working. Deprecated; the unprefixed ones are the names to use.
  collectDefaultMetrics({ register: registry, prefix: 'herald_' });

  new Gauge({
    name: 'herald_build_info',
    help: 'Always 1; the labels say which herald and which Node.js this process runs.',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: heraldVersion(), node: process.version }, 1);

  return {
    registry,
    httpRequests: new Counter({
      name: 'herald_http_requests_total',
      help: 'Requests answered by herald serve, by route pattern (not path: ids stay out of labels), method and status class.',
      labelNames: ['route', 'method', 'status_class'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'herald_http_request_duration_seconds',
      help: 'From a request\'s arrival to its answer, by route pattern, method and status class.',
      labelNames: ['route', 'method', 'status_class'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    runs: new Counter({
      name: 'herald_runs_total',
      help: 'Runs ended in this process, by job and status (succeeded, failed, aborted) and the exit code herald run would give.',
      labelNames: ['job', 'status', 'exit_code'] as const,
      registers: [registry],
    }),
    runDuration: new Histogram({
      name: 'herald_run_duration_seconds',
      help: 'From a run\'s start (its row) to its end, by job and status.',
      labelNames: ['job', 'status'] as const,
      buckets: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 21600],
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: 'herald_run_last_success_timestamp_seconds',
      help: 'When the job\'s last succeeded run (exit code 0) ended, in Unix seconds: alert on time() minus this.',
      labelNames: ['job'] as const,
      registers: [registry],
    }),
    sends: new Counter({
      name: 'herald_sends_total',
      help: 'Sends settled, by provider and status (accepted, failed, rejected, …).',
      labelNames: ['provider', 'status'] as const,
      registers: [registry],
    }),
    providerLatency: new Histogram({
      name: 'herald_provider_request_seconds',
      help: 'Time for one provider send request, by provider and outcome kind.',
      labelNames: ['provider', 'outcome'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers: [registry],
    }),
    /** Read from each sender's limiter when Prometheus scrapes. */
    queueDepth: new Gauge({
      name: 'herald_limiter_queue_depth',
      help: 'Sends waiting for their sender\'s rate limiter.',
      labelNames: ['provider', 'sender'] as const,
      registers: [registry],
      collect() {
        for (const w of watched.values()) this.set({ provider: w.provider, sender: w.sender }, w.depth());
      },
    }),
    webhookEvents: new Counter({
      name: 'herald_webhook_events_total',
      help: 'Provider events stored, by provider and event type; redeliveries of an event are counted apart (herald_webhook_redeliveries_total).',
      labelNames: ['provider', 'type'] as const,
      registers: [registry],
    }),
    webhookRedeliveries: new Counter({
      name: 'herald_webhook_redeliveries_total',
      help: 'Provider events received again after this process had stored them (deduplicated, not stored twice), by provider and event type.',
      labelNames: ['provider', 'type'] as const,
      registers: [registry],
    }),
    landingLag: new Histogram({
      name: 'herald_event_landing_lag_seconds',
      help: 'From when a provider says an event happened to when herald stored it.',
      labelNames: ['provider'] as const,
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 3600],
      registers: [registry],
    }),
  };
}

const watched = new Map<string, { provider: string; sender: string; depth: () => number }>();

/** Counts settled sends; a batch becomes one increment per (provider, status), not one per row. */
export function recordSends(records: readonly { provider: string; status: string }[]): void {
  if (!recording) return;
  const { sends } = metrics();
  const counts = new Map<string, Map<string, number>>();
  for (const { provider, status } of records) {
    let byStatus = counts.get(provider);
    if (!byStatus) counts.set(provider, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }
  for (const [provider, byStatus] of counts) for (const [status, n] of byStatus) sends.inc({ provider, status }, n);
}

export function recordProviderRequest(provider: string, outcome: string, seconds: number): void {
  if (recording) metrics().providerLatency.observe({ provider, outcome }, seconds);
}

/**
 * The queue's depth is read when Prometheus scrapes (herald_limiter_queue_depth). A sender's pacing
 * opens before its run's first send, so the registry is made here when it is wanted, not by the
 * first settlement: loading prom-client mid-send stalled the event loop and bunched the requests
 * that were due (6 arrivals in 950 ms at ADA's 5/s).
 */
export function watchQueue(provider: string, sender: string, depth: () => number): void {
  watched.set(`${provider}\u0000${sender}`, { provider, sender, depth });
  if (recording) metrics();
}

/**
 * Event ids this process stored lately: an id seen again is a redelivery. Bounded, so a
 * redelivery this process never saw (it went to another instance, or came after a restart, or
 * after this many newer events) counts as stored; the warehouse still stores it once. The oldest
 * id leaves through a ring of slots: evicting from the front of the Set instead walked past every
 * deleted entry on each call (measured at 24 µs an event, rising, before this ring).
 */
const RECENT_EVENTS = 65_536;
const recentEvents = new Set<string>();
const recentRing: (string | undefined)[] = new Array<string | undefined>(RECENT_EVENTS);
let recentSlot = 0;

function firstDelivery(eventId: string): boolean {
  if (recentEvents.has(eventId)) return false;
  const oldest = recentRing[recentSlot];
  if (oldest !== undefined) recentEvents.delete(oldest);
  recentRing[recentSlot] = eventId;
  recentSlot = (recentSlot + 1) % RECENT_EVENTS;
  recentEvents.add(eventId);
  return true;
}

/** A batch's events counted once per (provider, type), not once per event; each landing lag observed. */
export function recordEventsLanded(events: readonly { event_id?: string; provider: string; event_type: string; occurred_at: Date | null; received_at: Date }[], landedAt = new Date()): void {
  if (!recording) return;
  const { landingLag, webhookEvents, webhookRedeliveries } = metrics();
  const stored = new Map<string, { provider: string; type: string; n: number }>();
  const redelivered = new Map<string, { provider: string; type: string; n: number }>();
  const now = landedAt.getTime();
  for (const e of events) {
    const first = e.event_id === undefined || firstDelivery(e.event_id);
    const counts = first ? stored : redelivered;
    const key = `${e.provider}\u0000${e.event_type}`;
    const c = counts.get(key);
    if (c) c.n++;
    else counts.set(key, { provider: e.provider, type: e.event_type, n: 1 });
    if (first && e.occurred_at) landingLag.observe({ provider: e.provider }, Math.max(0, (now - e.occurred_at.getTime()) / 1000));
  }
  for (const c of stored.values()) webhookEvents.inc({ provider: c.provider, type: c.type }, c.n);
  for (const c of redelivered.values()) webhookRedeliveries.inc({ provider: c.provider, type: c.type }, c.n);
}

/** One answered HTTP request; `route` is the route's pattern (`/runs/:id`), or `unmatched` for a 404/400 before routing. */
export function recordHttpRequest(route: string, method: string, status: number, seconds: number): void {
  if (!recording) return;
  const { httpRequests, httpDuration } = metrics();
  const labels = { route, method: KNOWN_METHODS.has(method) ? method : 'other', status_class: `${Math.floor(status / 100)}xx` };
  httpRequests.inc(labels);
  httpDuration.observe(labels, seconds);
}

/** Methods kept as they are in labels; anything else a client sends is `other` (labels stay few). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A run that ended in this process (a whole run, or the last part of a run in parts). */
export function recordRunEnded(r: { job: string; status: string; exit_code: number; seconds: number; endedAt?: Date }): void {
  if (!recording) return;
  const { runs, runDuration, lastSuccess } = metrics();
  runs.inc({ job: r.job, status: r.status, exit_code: String(r.exit_code) });
  runDuration.observe({ job: r.job, status: r.status }, Math.max(0, r.seconds));
  if (r.exit_code === 0) lastSuccess.set({ job: r.job }, (r.endedAt ?? new Date()).getTime() / 1000);
}

export async function metricsText(): Promise<{ contentType: string; body: string }> {
  const { registry } = metrics();
  return { contentType: registry.contentType, body: await registry.metrics() };
}
