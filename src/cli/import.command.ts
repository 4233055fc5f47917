/**
 * `herald import ada-log <file.csv> [--map field=Header]… [--timezone ZONE] [--warehouse NAME] [--json]`:
 * lands a message log exported from the ADA console as events. Exit 0 when any line landed,
 * 2 when the file is missing or unreadable or no line could be read.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { loadConfig, warehouseUrl } from '../config/load.js';
import { consentRules } from '../consent/rules.js';
import { ConfigError, errorMessage } from '../errors.js';
import { landEvents } from '../events/event.js';
import { importAdaLog, LOG_COLUMN_CANDIDATES, LogFormatError, type LogField } from '../providers/ada/ada.log-import.js';
import { openWarehouse } from '../warehouse/open.js';

const USAGE = 'herald import ada-log <file.csv> [--map field=Header]… [--timezone ZONE] [--json]';
/** Bad lines printed one by one, then summarised. */
const SHOW_BAD = 50;

export async function importCommand(positionals: string[], flags: Record<string, unknown>): Promise<number> {
  const [kind, file, ...rest] = positionals;
  if (kind !== 'ada-log') throw ConfigError.of('herald import', '', kind ? `unknown import "${kind}"` : 'say what to import', USAGE);
  if (!file || rest.length > 0) throw ConfigError.of('herald import ada-log', '', 'give exactly one CSV file', USAGE);
  try {
    accessSync(file, constants.R_OK);
    if (!statSync(file).isFile()) throw new Error('not a file');
  } catch (err) {
    throw ConfigError.of(file, '', `cannot read the file: ${errorMessage(err)}`);
  }
  const loaded = loadConfig();
  const ada = loaded.config.providers.ada;
  const columns = { ...ada.log_columns, ...parseMaps(flags.map) };
  const timezone = typeof flags.timezone === 'string' ? flags.timezone : ada.log_timezone;
  const wh = await openWarehouse(warehouseUrl(loaded, typeof flags.warehouse === 'string' ? flags.warehouse : 'default'));
  try {
    const result = await importAdaLog(file, { columns, timezone, rules: consentRules(loaded.config.consent), land: (events) => landEvents(wh, events) });
    const shown = Object.entries(result.mapping).filter(([, h]) => h !== null).map(([f, h]) => `${f}=${h}`).join(', ');
    console.error(`columns: ${shown}`);
    for (const b of result.bad.slice(0, SHOW_BAD)) console.error(`${file}:${b.line}: ${b.reason}`);
    if (result.bad.length > SHOW_BAD) console.error(`… and ${result.bad.length - SHOW_BAD} more bad lines`);
    for (const [status, n] of result.otherStatuses) console.error(`status "${status}" is not one herald knows: ${n} line(s) landed as event type other`);
    if (flags.json === true) {
      console.log(JSON.stringify({
        file, lines: result.lines, good: result.good, events: result.events, bad: result.bad,
        mapping: result.mapping, other_statuses: Object.fromEntries(result.otherStatuses),
      }));
    } else console.log(`${file}: ${result.lines} lines, ${result.good} landed as ${result.events} events (redelivered events are skipped), ${result.bad.length} bad`);
    return result.good > 0 ? 0 : 2;
  } catch (err) {
    if (err instanceof LogFormatError) throw ConfigError.of(file, '', err.message);
    if ((err as NodeJS.ErrnoException).code !== undefined && /^E[A-Z]+$/.test(String((err as NodeJS.ErrnoException).code))) {
      throw ConfigError.of(file, '', `cannot read the file: ${errorMessage(err)}`);
    }
    throw err;
  } finally {
    await wh.close();
  }
}

/** `--map status="Delivery Status"` (repeatable) → { status: 'Delivery Status' }. */
function parseMaps(value: unknown): Partial<Record<LogField, string>> {
  const out: Partial<Record<LogField, string>> = {};
  for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    const m = /^([a-z_]+)=(.+)$/.exec(String(item));
    const field = m?.[1] as LogField | undefined;
    if (!m || !field || !(field in LOG_COLUMN_CANDIDATES)) {
      throw ConfigError.of('--map', '', `"${String(item)}" is not field=Header`, `fields: ${Object.keys(LOG_COLUMN_CANDIDATES).join(', ')}`);
    }
    out[field] = m[2]!;
  }
  return out;
}
