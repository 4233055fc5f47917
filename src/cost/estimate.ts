/**
 * `herald run --dry-run`'s cost estimate: the run's planned messages by recipient country × the
 * category the job sends in × the rate card in effect now. Providers bill delivered messages, so
 * this is an upper bound of the bill for this audience at these rates.
 */
import type { LoadedConfig, LoadedJob } from '../config/load.js';
import { approvedTemplates } from '../preflight/template-cache.js';
import { hasTemplates, runCategory, templateAccount } from '../preflight/template-check.js';
import type { Provider, ProviderTemplate } from '../providers/provider.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { fromMicros, toMicros } from './money.js';
import { ANY_COUNTRY, RATE_CATEGORIES, rateAt, rateCardFile, syncRateCard, type Rate } from './rate-card.js';

/** Where the category came from: the job's `message.category`, the provider's template, a free-form text (service), or nowhere. */
export type CategorySource = 'job' | 'template' | 'text' | 'unknown';

export interface EstimateLine {
  /** The recipients' region; null when herald could not tell it (the `*` rate applies). */
  country: string | null;
  messages: number;
  /** The rate card row used: its country (the recipient's or `*`), currency, price and date. */
  rate_country: string | null;
  currency: string | null;
  rate: string | null;
  effective_from: string | null;
  /** messages × rate; null without a rate. */
  cost: string | null;
}

export interface CostEstimate {
  provider: string;
  category: string;
  category_from: CategorySource;
  rate_card: string;
  /** When the rates were looked up (the rate in effect then). */
  priced_at: string;
  messages: number;
  lines: EstimateLine[];
  totals: { currency: string; cost: string }[];
  /** Messages with no rate on the card (no row for the provider and category, or the category is unknown). */
  unpriced: number;
}

export interface EstimateContext {
  wh: Warehouse;
  loaded: LoadedJob;
  provider: Provider;
  config: LoadedConfig;
}

/**
 * The estimate of a dry run (null for a real run: the report prices what was billed). Loads the
 * rate card into herald.rate_card first, so herald.send_costs prices with the same file.
 */
export async function dryRunCost(ctx: EstimateContext, summary: { run_id: string; dry_run: boolean }): Promise<{ estimate: CostEstimate; text: string } | null> {
  if (!summary.dry_run) return null;
  const file = rateCardFile(ctx.config.config);
  const rates = await syncRateCard(ctx.wh, file);
  const { category, from } = await sendCategory(ctx);
  const counts = await ctx.wh.query<{ country: string | null; messages: number }>(
    "SELECT country, count(*) AS messages FROM herald.sends WHERE run_id = $1 AND status = 'planned' GROUP BY country", [summary.run_id]);
  const estimate = estimateCost(rates, { provider: ctx.loaded.job.message.provider, category, from, file }, counts);
  return { estimate, text: formatEstimate(estimate) };
}

/**
 * The category the run sends in (pre-flight's rule: the job's word, else the provider's for the
 * template); a free-form text is a service message. The template comes from pre-flight's cache.
 */
async function sendCategory(ctx: EstimateContext): Promise<{ category: string; from: CategorySource }> {
  const { job } = ctx.loaded;
  if (job.message.category) return { category: job.message.category, from: 'job' };
  if (!job.message.template) return { category: 'service', from: 'text' };
  let template: ProviderTemplate | undefined;
  if (hasTemplates(ctx.provider)) {
    try {
      // Pre-flight listed the templates moments ago: this reads its cache, it makes no call.
      const { templates } = await approvedTemplates(ctx.provider, templateAccount(job.message.provider, ctx.config.config, job.message.sender));
      template = templates.find((t) => t.name === job.message.template!.name && t.category);
    } catch {
      // the listing failed (pre-flight warned already): the category stays unknown
    }
  }
  const category = runCategory(job, template);
  return category ? { category, from: 'template' } : { category: 'unknown', from: 'unknown' };
}

/** Messages by country × the rate in effect at `at`; exact decimal arithmetic. */
export function estimateCost(
  rates: readonly Rate[],
  run: { provider: string; category: string; from: CategorySource; file: string },
  counts: readonly { country: string | null; messages: number | string }[],
  at = new Date(),
): CostEstimate {
  const known = (RATE_CATEGORIES as readonly string[]).includes(run.category);
  const totals = new Map<string, bigint>();
  let unpriced = 0;
  const lines = counts
    .map((c) => ({ country: c.country, messages: Number(c.messages) }))
    .sort((a, b) => b.messages - a.messages || String(a.country).localeCompare(String(b.country)))
    .map((c): EstimateLine => {
      const rate = known ? rateAt(rates, run.provider, c.country, run.category, at) : null;
      if (!rate) {
        unpriced += c.messages;
        return { ...c, rate_country: null, currency: null, rate: null, effective_from: null, cost: null };
      }
      const micros = toMicros(rate.price) * BigInt(c.messages);
      totals.set(rate.currency, (totals.get(rate.currency) ?? 0n) + micros);
      return { ...c, rate_country: rate.country, currency: rate.currency, rate: rate.price, effective_from: rate.effective_from, cost: fromMicros(micros) };
    });
  return {
    provider: run.provider, category: run.category, category_from: run.from, rate_card: run.file, priced_at: at.toISOString(),
    messages: lines.reduce((n, l) => n + l.messages, 0), lines,
    totals: [...totals].sort(([a], [b]) => a.localeCompare(b)).map(([currency, micros]) => ({ currency, cost: fromMicros(micros) })),
    unpriced,
  };
}

const FROM: Record<CategorySource, string> = {
  job: 'message.category',
  template: 'the template\'s category at the provider',
  text: 'free-form text: service',
  unknown: 'unknown: set message.category, or let pre-flight list the template',
};

export function formatEstimate(e: CostEstimate): string {
  const out = [`estimated cost: ${e.messages.toLocaleString('en')} planned message${e.messages === 1 ? '' : 's'}, ${e.provider} ${e.category} (${FROM[e.category_from]})`];
  for (const l of e.lines) {
    const country = (l.country ?? 'unknown country').padEnd(16);
    const n = l.messages.toLocaleString('en').padStart(10);
    out.push(l.cost === null
      ? `  ${country}${n}  no rate`
      : `  ${country}${n} × ${l.currency} ${l.rate}${l.rate_country === ANY_COUNTRY ? ' (default * rate)' : ''} = ${l.currency} ${l.cost}`);
  }
  for (const t of e.totals) out.push(`  total ${t.currency} ${t.cost}`);
  if (e.unpriced > 0) out.push(`  ${e.unpriced.toLocaleString('en')} message${e.unpriced === 1 ? ' has' : 's have'} no rate on the card${e.category_from === 'unknown' ? ': the category is unknown' : ''}`);
  if (e.category === 'authentication') out.push('  authentication_international rates, where Meta applies them, are not in this estimate');
  out.push(`  rates from ${e.rate_card} (indicative unless it holds your contract rates); only delivered messages are billed`);
  return out.join('\n');
}
