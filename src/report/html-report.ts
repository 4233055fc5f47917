/**
 * `herald report --format html`: one self-contained HTML file (inline CSS and SVG, no scripts,
 * nothing fetched) with, given an overview, the job's runs over time, latency and splits, then each
 * run's headline, its funnel as a bar chart and its reasons with what they mean, to attach to a
 * mail or open from a bucket.
 */
import { explain, NO_EXPLANATION } from './codes.js';
import { deferrals, runTotals, type CostRow } from './costs.js';
import type { FunnelRow, ReasonRow } from './funnel.js';
import { headlineOf, headlineText } from './headline.js';
import { esc } from './html-escape.js';
import { overviewHtml, type Overview } from './html-job.js';

const BARS = [
  ['audience', 'Audience'], ['accepted', 'Accepted'], ['delivered', 'Delivered'], ['read', 'Read'],
  ['clicked', 'Clicked'], ['replied', 'Replied'], ['failed', 'Failed'],
] as const;
const SKIPPED = [['rejected', 'Rejected'], ['suppressed', 'Suppressed'], ['duplicate', 'Duplicate'], ['deferred', 'Deferred'], ['unknown', 'Unknown'], ['planned', 'Planned (dry run)']] as const;

export function funnelHtml(rows: readonly FunnelRow[], reasons: readonly ReasonRow[], generatedAt = new Date(), costRows: readonly CostRow[] = [], overview?: Overview): string {
  const title = rows.length === 1 ? `herald · ${rows[0]!.job} · ${rows[0]!.run_id}` : `herald · ${rows.length} runs`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 960px; color: #1d2330; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; } h3 { font-size: 1rem; margin-top: 1.4rem; }
  .headline { font-size: 1.02rem; background: #f4f6fa; padding: .6rem .8rem; border-radius: 4px; }
  .meta { color: #5b6372; } .run { border-top: 1px solid #dde1e8; padding-top: .5rem; }
  table { border-collapse: collapse; margin-top: .6rem; min-width: 420px; }
  th, td { text-align: left; padding: .3rem .8rem .3rem 0; border-bottom: 1px solid #eef0f4; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  svg text { font: 12px system-ui, sans-serif; fill: #1d2330; }
  .failed { color: #b42318; } .status-succeeded { color: #067647; } .status-aborted, .status-failed { color: #b42318; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p class="meta">Generated ${esc(generatedAt.toISOString())} by herald.</p>
${overview ? overviewHtml(overview) : ''}
${rows.map((r) => runSection(r, reasons.filter((x) => x.run_id === r.run_id), costSection(r.run_id, reasons, costRows))).join('\n')}
</body>
</html>
`;
}

function runSection(r: FunnelRow, reasons: readonly ReasonRow[], extra: string): string {
  const n = (k: keyof FunnelRow) => Number(r[k] ?? 0);
  return `<section class="run" id="run-${esc(r.run_id)}">
<h2>${esc(r.job)} <span class="meta">run ${esc(r.run_id)}</span></h2>
<p>Run key <code>${esc(r.run_key)}</code> · <span class="status-${esc(r.run_status)}">${esc(r.run_status)}</span>${r.dry_run ? ' · dry run' : ''} · started ${esc(iso(r.started_at))}${r.finished_at ? ` · finished ${esc(iso(r.finished_at))}` : ''}</p>
<p class="headline">${esc(headlineText(headlineOf(r, reasons)))}</p>
${chart(r)}
<table aria-label="funnel">
<thead><tr><th>stage</th><th>rows</th><th>share of audience</th></tr></thead>
<tbody>
${[...BARS, ...SKIPPED].filter(([k]) => k === 'audience' || n(k) > 0).map(([k, label]) =>
    `<tr${k === 'failed' ? ' class="failed"' : ''}><td>${label}</td><td class="n">${n(k).toLocaleString('en')}</td><td class="n">${k === 'audience' ? '' : share(n(k), n('audience'))}</td></tr>`).join('\n')}
</tbody>
</table>
${reasonTable(reasons.filter((x) => x.reason || x.status === 'failed'))}${extra}
</section>`;
}

/** Each reason with its count, where a failure came from, what it means and what to do. */
function reasonTable(reasons: readonly ReasonRow[]): string {
  if (reasons.length === 0) return '';
  return `<table aria-label="reasons">
<thead><tr><th>status</th><th>reason</th><th>rows</th><th>by</th><th>what it means</th><th>what to do</th></tr></thead>
<tbody>
${reasons.map((x) => {
    const why = explain(x.reason);
    return `<tr><td>${esc(x.status)}</td><td><code>${esc(x.reason ?? '')}</code></td><td class="n">${Number(x.count).toLocaleString('en')}</td>` +
      `<td>${esc(x.failed_by ?? '')}</td><td>${esc(why?.meaning ?? NO_EXPLANATION)}</td><td>${esc(why?.action ?? '')}</td></tr>`;
  }).join('\n')}
</tbody>
</table>`;
}

/** The run's deferrals by reason, and its cost by category and currency (herald.send_costs). */
function costSection(runId: string, reasons: readonly ReasonRow[], costRows: readonly CostRow[]): string {
  const deferred = deferrals(reasons, runId);
  const mine = costRows.filter((c) => c.run_id === runId);
  const parts: string[] = [];
  if (deferred.length > 0) {
    parts.push(`<table aria-label="deferrals">
<thead><tr><th>deferred</th><th>why</th><th>rows</th></tr></thead>
<tbody>
${deferred.map((d) => `<tr><td><code>${esc(d.reason ?? '')}</code></td><td>${esc(d.label)}</td><td class="n">${d.count.toLocaleString('en')}</td></tr>`).join('\n')}
</tbody>
</table>`);
  }
  if (mine.length > 0) {
    const totals = runTotals(costRows, runId).map((t) => `${t.currency} ${t.cost}`).join(', ');
    parts.push(`<table aria-label="cost">
<thead><tr><th>category</th><th>currency</th><th>billable</th><th>priced</th><th>cost</th></tr></thead>
<tbody>
${mine.map((c) => `<tr><td>${esc(c.category ?? '')}</td><td>${esc(c.currency ?? '')}</td><td class="n">${c.billable.toLocaleString('en')}</td><td class="n">${c.priced.toLocaleString('en')}</td><td class="n">${c.cost === null ? 'no rate' : esc(c.cost)}</td></tr>`).join('\n')}
</tbody>
</table>
<p>Cost: ${esc(totals || 'none')} (rates from herald.rate_card; only billable statuses count).</p>`);
  }
  return parts.length === 0 ? '' : `\n${parts.join('\n')}`;
}

/** Horizontal bars from audience down the funnel, scaled to the audience. */
function chart(r: FunnelRow): string {
  const audience = Math.max(1, Number(r.audience ?? 0));
  const width = 560;
  const rows = BARS.map(([k, label], i) => {
    const value = Number(r[k] ?? 0);
    const w = Math.round((width * value) / audience);
    const y = i * 28;
    const color = k === 'failed' ? '#d92d20' : k === 'audience' ? '#98a2b3' : '#2e6bd6';
    return `<text x="0" y="${y + 17}">${label}</text><rect x="90" y="${y + 4}" width="${w}" height="18" rx="2" fill="${color}"></rect>` +
      `<text x="${96 + w}" y="${y + 17}">${value.toLocaleString('en')}</text>`;
  });
  return `<svg role="img" aria-label="funnel chart" width="${width + 180}" height="${BARS.length * 28}" viewBox="0 0 ${width + 180} ${BARS.length * 28}">${rows.join('')}</svg>`;
}

function share(n: number, of: number): string {
  return of > 0 ? `${((100 * n) / of).toFixed(1)}%` : '';
}

function iso(d: Date | string): string {
  return new Date(d).toISOString();
}
