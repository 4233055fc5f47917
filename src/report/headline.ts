/**
 * A run's headline: its rates per attempted send of the run, said as such. herald.run_funnel's
 * failure_rate divides by accepted + failed sends only, so a re-run or resumed run whose few
 * attempts were mostly deferred by Meta (131049) or left unknown read "Failed 100.0%" when one of
 * six had failed. Here the denominator is every send handed to the provider in the run, in any
 * invocation of it: accepted, failed, unknown, or deferred by the provider's own answer.
 */
import type { FunnelRow, ReasonRow } from './funnel.js';
import { percent, type Counts } from './outcomes.js';

/** The run's counts for its headline, from its funnel row and its reasons (which count every send once). */
export function headlineOf(r: FunnelRow, reasons: readonly ReasonRow[]): Counts {
  const mine = reasons.filter((x) => x.run_id === r.run_id);
  const sum = (keep: (x: ReasonRow) => boolean) => mine.filter(keep).reduce((n, x) => n + Number(x.count), 0);
  const providerDeferred = (x: ReasonRow) => x.status === 'deferred' && (x.reason ?? '').startsWith('provider:');
  return {
    audience: Number(r.audience) || 0,
    attempted: sum((x) => ['accepted', 'failed', 'unknown'].includes(x.status) || providerDeferred(x)),
    accepted: Number(r.accepted) || 0,
    delivered: Number(r.delivered) || 0,
    read: Number(r.read) || 0,
    failed: sum((x) => x.status === 'failed'),
    failed_by_webhook: sum((x) => x.status === 'failed' && x.failed_by === 'webhook'),
    deferred_by_provider: sum(providerDeferred),
    unknown: sum((x) => x.status === 'unknown'),
  };
}

/** The headline as plain text. */
export function headlineText(h: Counts): string {
  const fmt = (n: number) => n.toLocaleString('en');
  const notAttempted = h.audience - h.attempted;
  if (h.attempted === 0) {
    return `Nothing was attempted in this run: its ${fmt(h.audience)} audience rows were all settled before sending (rejected, suppressed, duplicate, deferred, pending or planned).`;
  }
  const of = (n: number) => `${fmt(n)} (${percent(n, h.attempted)})`;
  const extra = [
    h.deferred_by_provider > 0 ? `deferred by the provider ${of(h.deferred_by_provider)}` : '',
    h.unknown > 0 ? `outcome unknown ${of(h.unknown)}` : '',
  ].filter(Boolean).join(', ');
  return `${fmt(h.attempted)} sends attempted in this run (handed to the provider: accepted, failed, deferred by it, or outcome unknown)` +
    `${notAttempted > 0 ? `; ${fmt(notAttempted)} of ${fmt(h.audience)} audience rows ${notAttempted === 1 ? 'was' : 'were'} not attempted` : ''}. ` +
    `Of the attempted: delivered ${of(h.delivered)}, read ${of(h.read)}, failed ${of(h.failed)}` +
    `${h.failed_by_webhook > 0 ? `, ${fmt(h.failed_by_webhook)} of them by a status webhook after acceptance` : ''}${extra ? `; ${extra}` : ''}.`;
}
