/** `herald report [--run ID | --job NAME] [--format table|csv|json] [--output FILE]` */
import { writeFileSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
import { loadConfig } from '../config/load.js';
import { rateCardFile, syncRateCard } from '../cost/rate-card.js';
import { ConfigError } from '../errors.js';
import { costs, runTotals } from '../report/costs.js';
import { funnel, funnelTable, reasons, type RunSelector } from '../report/funnel.js';
import { funnelHtml } from '../report/html-report.js';
import { openDefaultWarehouse } from './context.js';

const FORMATS = ['table', 'csv', 'json', 'html'] as const;

export async function reportCommand(positionals: string[], flags: Record<string, unknown>): Promise<number> {
  if (positionals.length > 0) throw ConfigError.of('herald report', '', `unexpected argument "${positionals[0]}"`, 'use --run ID or --job NAME');
  if (flags.run !== undefined && flags.job !== undefined) throw ConfigError.of('herald report', '', '--run and --job exclude each other');
  const format = (flags.format ?? 'table') as string;
  if (!(FORMATS as readonly string[]).includes(format)) throw ConfigError.of('--format', '', `unknown format "${format}"`, `one of ${FORMATS.join(', ')}`);
  const select: RunSelector = typeof flags.run === 'string' ? { runId: flags.run } : typeof flags.job === 'string' ? { job: flags.job } : { latest: true };

  const wh = await openDefaultWarehouse(typeof flags.warehouse === 'string' ? flags.warehouse : 'default');
  try {
    const rows = await funnel(wh, select);
    if (rows.length === 0) throw ConfigError.of('herald report', '', 'no run matches', 'run a job first, or check --run / --job');
    const runIds = rows.map((r) => r.run_id);
    const why = await reasons(wh, runIds);
    // The rate card is loaded where it is read: herald.send_costs prices with the configured file.
    await syncRateCard(wh, rateCardFile(loadConfig().config));
    const cost = await costs(wh, runIds);
    const text = format === 'table' ? `${funnelTable(rows, why, cost)}\n`
      : format === 'html' ? funnelHtml(rows, why, new Date(), cost)
      : format === 'json' ? `${JSON.stringify({ runs: rows, reasons: why, costs: cost }, null, 2)}\n`
      : stringify(rows.map((r) => ({
        ...r, started_at: iso(r.started_at), finished_at: iso(r.finished_at),
        cost: runTotals(cost, r.run_id).map((t) => `${t.currency} ${t.cost}`).join('; '),
      })), { header: true, cast: { boolean: (b) => String(b) } });
    if (typeof flags.output === 'string') {
      writeFileSync(flags.output, text);
      console.error(`wrote ${flags.output}`);
    } else process.stdout.write(text);
    return 0;
  } finally {
    await wh.close();
  }
}

function iso(d: Date | string | null): string {
  return d === null ? '' : new Date(d).toISOString();
}
