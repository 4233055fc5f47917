/**
 * `herald report [--run ID | --job NAME] [--format table|csv|json|html] [--output FILE]`
 *
 * With `--format html --output FILE`, the failed and rejected rows are written as CSV next to the
 * HTML file (`<name>.failed.csv`) and linked from it: one download beside the page, no new option.
 */
import { writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { loadConfig } from '../config/load.js';
import { rateCardFile, syncRateCard } from '../cost/rate-card.js';
import { ConfigError } from '../errors.js';
import { explain } from '../report/codes.js';
import { costs, runTotals } from '../report/costs.js';
import { failedCsv, failedRows } from '../report/failed-rows.js';
import { funnel, funnelTable, reasons, type RunSelector } from '../report/funnel.js';
import { headlineOf } from '../report/headline.js';
import { funnelHtml } from '../report/html-report.js';
import { buildOverview } from '../report/overview.js';
import { overviewTable } from '../report/text-overview.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { openDefaultWarehouse } from './context.js';

const FORMATS = ['table', 'csv', 'json', 'html'] as const;

export async function reportCommand(positionals: string[], flags: Record<string, unknown>): Promise<number> {
  if (positionals.length > 0) throw ConfigError.of('herald report', '', `unexpected argument "${positionals[0]}"`, 'use --run ID or --job NAME');
  if (flags.run !== undefined && flags.job !== undefined) throw ConfigError.of('herald report', '', '--run and --job exclude each other');
  const format = (flags.format ?? 'table') as string;
  if (!(FORMATS as readonly string[]).includes(format)) throw ConfigError.of('--format', '', `unknown format "${format}"`, `one of ${FORMATS.join(', ')}`);
  const select: RunSelector = typeof flags.run === 'string' ? { runId: flags.run } : typeof flags.job === 'string' ? { job: flags.job } : { latest: true };
  const output = typeof flags.output === 'string' ? flags.output : null;

  const wh = await openDefaultWarehouse(typeof flags.warehouse === 'string' ? flags.warehouse : 'default');
  try {
    const rows = await funnel(wh, select);
    if (rows.length === 0) throw ConfigError.of('herald report', '', 'no run matches', 'run a job first, or check --run / --job');
    const runIds = rows.map((r) => r.run_id);
    const why = await reasons(wh, runIds);
    // The rate card is loaded where it is read: herald.send_costs prices with the configured file.
    await syncRateCard(wh, rateCardFile(loadConfig().config));
    const cost = await costs(wh, runIds);
    let text: string;
    if (format === 'table') {
      text = `${overviewTable(await buildOverview(wh, rows, why, cost, { note: '' }))}\n\n${funnelTable(rows, why, cost)}\n`;
    } else if (format === 'html') {
      const failed = output ? await writeFailedCsv(wh, runIds, output) : { note: 'Give --output FILE to have the failed and rejected rows written as CSV next to the report.' };
      text = funnelHtml(rows, why, new Date(), cost, await buildOverview(wh, rows, why, cost, failed));
    } else if (format === 'json') {
      const o = await buildOverview(wh, rows, why, cost, { note: '' });
      text = `${JSON.stringify({
        runs: rows, headlines: o.runs, reasons: why.map((r) => ({ ...r, ...(explain(r.reason) ?? {}) })), costs: cost,
        latency: o.latency, by_template: o.byTemplate, by_country: o.byCountry,
      }, null, 2)}\n`;
    } else {
      text = stringify(rows.map((r) => {
        const h = headlineOf(r, why);
        return {
          ...r, started_at: iso(r.started_at), finished_at: iso(r.finished_at),
          attempted: h.attempted, failed_per_attempted: h.attempted > 0 ? h.failed / h.attempted : '',
          cost: runTotals(cost, r.run_id).map((t) => `${t.currency} ${t.cost}`).join('; '),
        };
      }), { header: true, cast: { boolean: (b) => String(b) } });
    }
    if (output) {
      writeFileSync(output, text);
      console.error(`wrote ${output}`);
    } else process.stdout.write(text);
    return 0;
  } finally {
    await wh.close();
  }
}

/** `report.html` → `report.failed.csv` beside it; the link is the file's name (relative to the page). */
async function writeFailedCsv(wh: Warehouse, runIds: readonly string[], htmlFile: string): Promise<{ href: string; rows: number }> {
  const name = `${basename(htmlFile, extname(htmlFile))}.failed.csv`;
  const failed = await failedRows(wh, runIds);
  writeFileSync(join(dirname(htmlFile), name), failedCsv(failed));
  console.error(`wrote ${join(dirname(htmlFile), name)}`);
  return { href: name, rows: failed.length };
}

function iso(d: Date | string | null): string {
  return d === null ? '' : new Date(d).toISOString();
}
