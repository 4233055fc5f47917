/**
 * The job part of the HTML report, above the runs: runs over time (a chart and a table, rates per
 * attempted send), delivery and read latency, splits by template and by country, and the link to
 * the CSV of failed and rejected rows written next to the HTML file.
 */
import { esc } from './html-escape.js';
import { duration, type Latency } from './latency.js';
import { percent, type Counts } from './outcomes.js';
import { runsChart } from './runs-chart.js';
import type { Split } from './splits.js';

export interface Overview {
  /** Per run (oldest first in the chart), with its headline counts. */
  runs: (Counts & { run_id: string; started_at: Date | string; run_status: string; /** Totals per currency (herald.send_costs), e.g. "USD 0.2972"; empty when nothing is priced. */ cost: string })[];
  latency: readonly Latency[];
  byTemplate: readonly Split[];
  byCountry: readonly Split[];
  /** The CSV of failed and rejected rows: its link (relative to the HTML file), or why there is none. */
  failedCsv: { href: string; rows: number } | { note: string };
}

const n = (v: number) => v.toLocaleString('en');

export function overviewHtml(o: Overview): string {
  const runs = [...o.runs].sort((a, b) => new Date(a.started_at).getTime() - new Date(b.started_at).getTime());
  return `<section class="overview" id="overview">
<h2>Overview</h2>
<p class="meta">Rates are per attempted send: sends handed to the provider in the run (accepted, failed, deferred by the provider, or outcome unknown). Rows rejected, suppressed or skipped as duplicates before sending are not attempted.</p>
${runs.length > 1 ? `<h3>Runs over time</h3>\n${runsChart(runs)}` : ''}
<table aria-label="runs">
<thead><tr><th>started</th><th>run</th><th>status</th><th>audience</th><th>attempted</th><th>accepted</th><th>delivered</th><th>read</th><th>failed</th><th>cost</th></tr></thead>
<tbody>
${runs.map((r) => `<tr><td>${esc(new Date(r.started_at).toISOString())}</td><td><a href="#run-${esc(r.run_id)}">${esc(r.run_id)}</a></td><td>${esc(r.run_status)}</td>` +
    `<td class="n">${n(r.audience)}</td><td class="n">${n(r.attempted)}</td><td class="n">${n(r.accepted)}</td>${rated(r.delivered, r.attempted)}${rated(r.read, r.attempted)}${rated(r.failed, r.attempted, 'failed')}<td class="n">${esc(r.cost || '–')}</td></tr>`).join('\n')}
</tbody>
</table>
<h3>Latency</h3>
<p class="meta">From the provider's acceptance (sent_at) to the first delivered or read status; median and 90th percentile.</p>
<table aria-label="latency">
<thead><tr><th>run</th><th>delivered</th><th>median</th><th>p90</th><th>read</th><th>median</th><th>p90</th></tr></thead>
<tbody>
${o.latency.map((l) => `<tr><td>${l.run_id === null ? 'all runs' : esc(l.run_id)}</td><td class="n">${n(l.delivered)}</td><td class="n">${duration(l.delivery_median_s)}</td><td class="n">${duration(l.delivery_p90_s)}</td>` +
    `<td class="n">${n(l.read)}</td><td class="n">${duration(l.read_median_s)}</td><td class="n">${duration(l.read_p90_s)}</td></tr>`).join('\n')}
</tbody>
</table>
${splitTable('template', 'By template', o.byTemplate)}
${splitTable('country', 'By country', o.byCountry)}
<h3>Failed and rejected rows</h3>
<p>${'href' in o.failedCsv ? `<a href="${esc(o.failedCsv.href)}" download>${esc(o.failedCsv.href)}</a> (${n(o.failedCsv.rows)} rows, CSV: reason, where it failed, what it means and what to do)` : esc(o.failedCsv.note)}</p>
</section>`;
}

function rated(v: number, of: number, cls?: string): string {
  return `<td class="n${cls ? ` ${cls}` : ''}">${n(v)} <span class="meta">${percent(v, of)}</span></td>`;
}

function splitTable(what: string, title: string, rows: readonly Split[]): string {
  return `<h3>${title}</h3>
<table aria-label="by ${what}">
<thead><tr><th>${what}</th><th>rows</th><th>attempted</th><th>delivered</th><th>read</th><th>failed</th></tr></thead>
<tbody>
${rows.map((s) => `<tr><td>${esc(s.key)}</td><td class="n">${n(s.audience)}</td><td class="n">${n(s.attempted)}</td>${rated(s.delivered, s.attempted)}${rated(s.read, s.attempted)}${rated(s.failed, s.attempted, 'failed')}</tr>`).join('\n')}
</tbody>
</table>`;
}
