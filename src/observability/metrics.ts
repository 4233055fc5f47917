/**
 * Prometheus metrics (prom-client), served by `herald serve` at GET /metrics. One registry per
 * process; the send path and the webhook path record into it through these few functions.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'herald_' });

const sends = new Counter({
  name: 'herald_sends_total',
  help: 'Sends settled, by provider and status (accepted, failed, rejected, …).',
  labelNames: ['provider', 'status'] as const,
  registers: [registry],
});

const providerLatency = new Histogram({
  name: 'herald_provider_request_seconds',
  help: 'Time for one provider send request, by provider and outcome kind.',
  labelNames: ['provider', 'outcome'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
  registers: [registry],
});

const watched = new Map<string, { provider: string; sender: string; depth: () => number }>();

/** Read from each sender's limiter when Prometheus scrapes. */
const queueDepth = new Gauge({
  name: 'herald_limiter_queue_depth',
  help: 'Sends waiting for their sender\'s rate limiter.',
  labelNames: ['provider', 'sender'] as const,
  registers: [registry],
  collect() {
    for (const w of watched.values()) this.set({ provider: w.provider, sender: w.sender }, w.depth());
  },
});

const webhookEvents = new Counter({
  name: 'herald_webhook_events_total',
  help: 'Provider events landed, by provider and event type.',
  labelNames: ['provider', 'type'] as const,
  registers: [registry],
});

const landingLag = new Histogram({
  name: 'herald_event_landing_lag_seconds',
  help: 'From when a provider says an event happened to when herald stored it.',
  labelNames: ['provider'] as const,
  buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 3600],
  registers: [registry],
});

/** Counts settled sends; a batch becomes one increment per (provider, status), not one per row. */
export function recordSends(records: readonly { provider: string; status: string }[]): void {
  const counts = new Map<string, Map<string, number>>();
  for (const { provider, status } of records) {
    let byStatus = counts.get(provider);
    if (!byStatus) counts.set(provider, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }
  for (const [provider, byStatus] of counts) for (const [status, n] of byStatus) sends.inc({ provider, status }, n);
}

export function recordProviderRequest(provider: string, outcome: string, seconds: number): void {
  providerLatency.observe({ provider, outcome }, seconds);
}

export function watchQueue(provider: string, sender: string, depth: () => number): void {
  watched.set(`${provider}\u0000${sender}`, { provider, sender, depth });
  queueDepth.set({ provider, sender }, depth());
}

export function recordEventsLanded(events: readonly { provider: string; event_type: string; occurred_at: Date | null; received_at: Date }[], landedAt = new Date()): void {
  for (const e of events) {
    webhookEvents.inc({ provider: e.provider, type: e.event_type });
    if (e.occurred_at) landingLag.observe({ provider: e.provider }, Math.max(0, (landedAt.getTime() - e.occurred_at.getTime()) / 1000));
  }
}

export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
