/**
 * `herald import ada-log`: a hand-exported ADA message log lands as events — common header
 * spellings found on their own, others mapped by config or --map, local times read in the
 * configured zone, bad lines reported with their line numbers while the good ones land, and a
 * second import of the same file landing nothing new.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { zonedTime } from '../../src/providers/ada/ada.log-import.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.warehouse.js';

const ENV_KEYS = ['HERALD_CONFIG', 'HERALD_LOG_LEVEL'] as const;
let dir: string;
let dbFile: string;
let saved: Record<string, string | undefined>;
let stdout: string[];
let stderr: string[];

function config(ada: string): void {
  writeFileSync(join(dir, 'herald.yaml'), `warehouses: { default: { url: "duckdb:${dbFile}" } }\nproviders:\n  ada:\n${ada}\n`);
}

beforeEach(() => {
  saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  dir = mkdtempSync(join(tmpdir(), 'herald-import-'));
  dbFile = join(dir, 'w.duckdb');
  config('    log_timezone: Asia/Singapore');
  process.env.HERALD_CONFIG = join(dir, 'herald.yaml');
  process.env.HERALD_LOG_LEVEL = 'silent';
  stdout = [];
  stderr = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void stdout.push(a.map(String).join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(a.map(String).join(' ')));
});

afterEach(() => {
  vi.restoreAllMocks();
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(dir, { recursive: true, force: true });
});

async function events(): Promise<Record<string, unknown>[]> {
  const wh = await DuckDbWarehouse.open(dbFile);
  try {
    return await wh.query("SELECT event_type, provider_message_id, recipient, occurred_at, error_code FROM herald.events WHERE provider = 'ada' ORDER BY provider_message_id, event_type");
  } finally {
    await wh.close();
  }
}

const LOG = [
  'Message ID,To,Status,Date Time,Error Code,Error Message',
  'm1,6591234567,Delivered,2026-01-05 09:00:00,,',
  'm1,6591234567,Read,2026-01-05 09:03:10,,',
  'm2,+65 9123 4568,Failed,2026-01-05 09:00:01,470,Outside 24h window',
  'm3,6591234569,Delivered,yesterday,,',
  'm4,6591234570,Sent',
  ',not-a-phone,Delivered,2026-01-05 09:00:02,,',
  'm5,6591234571,On hold (unknown),2026-01-05T01:00:00Z,,',
  'm6,6591234572,,2026-01-05 09:00:00,,',
].join('\n');

describe('herald import ada-log', () => {
  it('lands good lines, reports bad ones by line number, exits 0; a re-import lands nothing new', async () => {
    const file = join(dir, 'log.csv');
    writeFileSync(file, `\uFEFF${LOG}\n`);
    expect(await main(['import', 'ada-log', file])).toBe(0);
    const err = stderr.join('\n');
    expect(err).toContain('columns: message_id=Message ID, recipient=To, status=Status, occurred_at=Date Time, error_code=Error Code, error_detail=Error Message');
    expect(err).toContain(`${file}:5: unreadable time "yesterday"`);
    expect(err).toContain(`${file}:6: 3 fields where the header has 6`);
    expect(err).toContain(`${file}:7: no message id, and "not-a-phone" is not a phone number`);
    expect(err).toContain(`${file}:9: empty status`);
    expect(err).toContain('status "On hold (unknown)" is not one herald knows');
    expect(stdout.join('\n')).toContain('8 lines, 4 landed as 4 events');
    const rows = await events();
    expect(rows.map((r) => `${r.event_type} ${r.provider_message_id} ${r.recipient} ${r.error_code ?? ''}`)).toEqual([
      'delivered m1 +6591234567 ', 'read m1 +6591234567 ', 'failed m2 +6591234568 470', 'other m5 +6591234571 ',
    ]);
    // 09:00 in Singapore (UTC+8) is 01:00 UTC.
    expect(new Date(rows[0]!.occurred_at as Date).toISOString()).toBe('2026-01-05T01:00:00.000Z');
    expect(await main(['import', 'ada-log', file])).toBe(0);
    expect((await events()).length).toBe(4);
  });

  it('columns from config or --map; an unknown header is a usage error naming the columns', async () => {
    const file = join(dir, 'odd.csv');
    writeFileSync(file, 'Ref,Handset,Outcome,When\nr1,6591234567,DELIVERED,1767574800\n');
    expect(await main(['import', 'ada-log', file])).toBe(2);
    expect(stderr.join('\n')).toMatch(/no column found for status, occurred_at \(or a sent\/delivered\/read\/failed time\), message_id or recipient; the header has: Ref, Handset, Outcome, When/);
    expect(await main(['import', 'ada-log', file, '--map', 'message_id=Ref', '--map', 'recipient=Handset', '--map', 'status=Outcome', '--map', 'occurred_at=When'])).toBe(0);
    config('    log_columns: { message_id: Ref, recipient: Handset, status: Outcome, occurred_at: When }');
    expect(await main(['import', 'ada-log', file])).toBe(0);
    expect((await events()).map((r) => r.provider_message_id)).toEqual(['r1']);
    expect(await main(['import', 'ada-log', file, '--map', 'nonsense=X'])).toBe(2);
  });

  it('a log with a time column per step: each step lands at its own time, the reason with the failure only', async () => {
    const file = join(dir, 'steps.csv');
    writeFileSync(file, [
      'Message ID,Mobile No,Status,Sent Time,Delivered Time,Read Time,Failed Time,Failed Reason',
      'w1,6591234567,Read,2026-01-05 09:00:00,2026-01-05 09:00:04,2026-01-05 09:12:30,,',
      'w2,6591234568,Delivered,2026-01-05 09:00:01,2026-01-05 09:00:05,,,',
      'w3,6591234569,Failed,2026-01-05 09:00:02,,,2026-01-05 09:00:07,Message undeliverable',
      'w4,6591234570,Read,2026-01-05 09:00:03,,,,',
    ].join('\n'));
    expect(await main(['import', 'ada-log', file, '--json'])).toBe(0);
    const summary = JSON.parse(stdout.at(-1)!) as { lines: number; good: number; events: number; mapping: Record<string, string | null> };
    expect(summary).toMatchObject({ lines: 4, good: 4, events: 8 });
    expect(summary.mapping).toMatchObject({ sent_at: 'Sent Time', delivered_at: 'Delivered Time', read_at: 'Read Time', failed_at: 'Failed Time', error_detail: 'Failed Reason', occurred_at: null });
    const wh = await DuckDbWarehouse.open(dbFile);
    try {
      const rows = await wh.query<{ e: string }>(`SELECT event_type || ' ' || provider_message_id || ' ' || strftime(occurred_at, '%H:%M:%S') || ' ' ||
        coalesce(error_code, '-') || ' ' || coalesce(error_detail, '-') AS e FROM herald.events WHERE provider = 'ada' ORDER BY provider_message_id, occurred_at`);
      // Times are 09:xx in Singapore, 01:xx UTC. w4 says Read but has no read time: only its sent step lands.
      expect(rows.map((r) => r.e)).toEqual([
        'sent w1 01:00:00 - -', 'delivered w1 01:00:04 - -', 'read w1 01:12:30 - -',
        'sent w2 01:00:01 - -', 'delivered w2 01:00:05 - -',
        'sent w3 01:00:02 - -', 'failed w3 01:00:07 - Message undeliverable',
        'sent w4 01:00:03 - -',
      ]);
    } finally {
      await wh.close();
    }
  });

  it('a failed line without an error code column has no error code (not the word "Failed")', async () => {
    const file = join(dir, 'nocode.csv');
    writeFileSync(file, 'Message ID,To,Status,Date Time,Remarks\nm9,6591234567,Failed,2026-01-05 09:00:00,Number not on WhatsApp\n');
    expect(await main(['import', 'ada-log', file])).toBe(0);
    expect((await events()).map((r) => `${String(r.event_type)} ${String(r.error_code)}`)).toEqual(['failed null']);
  });

  it('exit 2 for a missing file, and for a file where no line could land', async () => {
    expect(await main(['import', 'ada-log', join(dir, 'missing.csv')])).toBe(2);
    expect(stderr.join('\n')).toMatch(/missing\.csv.*cannot read the file/);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'Message ID,To,Status,Date Time\nm1,6591234567,Delivered,never\n');
    expect(await main(['import', 'ada-log', bad])).toBe(2);
    expect(await main(['import', 'nope', bad])).toBe(2);
  });

  it('reads wall times in the zone, across a DST change', () => {
    expect(zonedTime('2026-03-08 03:30:00', 'America/New_York')?.toISOString()).toBe('2026-03-08T07:30:00.000Z');
    expect(zonedTime('2026-07-01 12:00', 'Europe/Berlin')?.toISOString()).toBe('2026-07-01T10:00:00.000Z');
    expect(zonedTime('2026/01/05 09:00:00.5', 'UTC')?.toISOString()).toBe('2026-01-05T09:00:00.500Z');
    expect(zonedTime('05/01/2026 09:00', 'UTC')).toBeNull();
  });
});
