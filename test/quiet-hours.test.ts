/** Sending hours in the recipient's local time, and what a run does with rows outside them. */
import { describe, expect, it } from 'vitest';
import { JobSchema } from '../src/config/job.schema.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { silentLogger } from '../src/log.js';
import { quietHours } from '../src/pipeline/quiet-hours.js';
import { runJob } from '../src/pipeline/run-job.js';
import type { OutboundMessage, Provider, SendOutcome } from '../src/providers/provider.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';

const JP = '+819012345678';
const US = '+12015550123'; // New Jersey, but the US spans Hawaii to Maine
const SG = '+6591234567';

describe('quietHours', () => {
  const hours = quietHours({ not_before: '09:00', not_after: '21:00' }, 'UTC')!;

  it('uses the zone of the number\'s country', () => {
    expect(hours.check(JP, null, new Date('2026-03-02T11:59:00Z'))).toBeNull(); // 20:59 in Tokyo
    expect(hours.check(JP, null, new Date('2026-03-02T12:00:00Z'))).toBe('21:00 in Asia/Tokyo is outside the sending hours 09:00–21:00');
    expect(hours.check(SG, null, new Date('2026-03-02T00:30:00Z'))).toBe('08:30 in Asia/Singapore is outside the sending hours 09:00–21:00');
  });

  it('a country with several zones: only while every one of them is within the hours', () => {
    // 15:00 in New York is 10:00 in Honolulu: fine everywhere.
    expect(hours.check(US, null, new Date('2026-03-02T20:00:00Z'))).toBeNull();
    // 12:00 in New York is 07:00 in Honolulu: not yet.
    expect(hours.check(US, null, new Date('2026-03-02T17:00:00Z'))).toMatch(/^0[67]:00 in (America\/Adak|Pacific\/Honolulu) is outside/);
  });

  it('a row\'s own time zone wins; an invalid one falls back to the country', () => {
    expect(hours.check(US, 'America/New_York', new Date('2026-03-02T17:00:00Z'))).toBeNull();
    expect(hours.check(JP, 'Mars/Olympus_Mons', new Date('2026-03-02T12:00:00Z'))).toMatch(/Asia\/Tokyo/);
  });

  it('is off without hours, and not_before alone or not_after alone work', () => {
    expect(quietHours({}, 'UTC')).toBeNull();
    expect(quietHours({ not_after: '21:00' }, 'UTC')!.check(JP, null, new Date('2026-03-02T00:00:00Z'))).toBeNull(); // 09:00
    expect(quietHours({ not_before: '08:00' }, 'UTC')!.check(JP, null, new Date('2026-03-02T14:59:00Z'))).toBeNull(); // 23:59
  });

  it('rejects hours that are the wrong way round', () => {
    expect(() => JobSchema.parse({
      name: 'q', source: { query: 'select 1' }, audience: { key: 'k', phone: 'p', default_region: 'JP', consent: 'c' },
      message: { provider: 'sandbox', sender: '1', template: { name: 't', language: 'ja' } }, delivery: { not_before: '21:00', not_after: '09:00' },
    })).toThrow(/not_before must be earlier than not_after/);
  });
});

describe('a run outside the sending hours', () => {
  it('defers those rows with the reason and sends the others', async () => {
    const wh = await DuckDbWarehouse.open(':memory:');
    const job = JobSchema.parse({
      name: 'quiet', timezone: 'UTC',
      source: { query: `SELECT * FROM (VALUES ('jp', '${JP}', 'yes', NULL), ('us', '${US}', 'yes', NULL), ('us_ny', '+12015550124', 'yes', 'America/New_York')) t(k, p, ok, tz)` },
      audience: { key: 'k', phone: 'p', default_region: 'JP', consent: 'ok' },
      message: { provider: 'sandbox', sender: '1', template: { name: 't', language: 'ja' } },
      delivery: { not_before: '09:00', not_after: '21:00', recipient_timezone: 'tz' },
    });
    const sent: string[] = [];
    const provider: Provider = {
      name: 'sandbox', defaultRatePerSecond: 100, close: async () => undefined,
      send: async (m: OutboundMessage): Promise<SendOutcome> => (sent.push(m.recipient), { kind: 'accepted', providerMessageId: `w.${m.sendId}` }),
    };
    // 12:00 in New York, 02:00 the next day in Tokyo, 07:00 in Honolulu.
    const at = new Date('2026-03-02T17:00:00Z');
    const summary = await runJob({ loaded: { job, file: 'q.yaml', sql: job.source.query!, sqlOrigin: 'q' }, wh, provider, senders: new SenderRegistry(), logger: silentLogger, now: () => at });
    const rows = await wh.query<{ row_key: string; status: string; reason: string | null }>('SELECT row_key, status, reason FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [summary.run_id]);
    await wh.close();
    expect(rows).toEqual([
      { row_key: 'jp', status: 'deferred', reason: 'quiet_hours' },
      { row_key: 'us', status: 'deferred', reason: 'quiet_hours' },
      { row_key: 'us_ny', status: 'accepted', reason: null },
    ]);
    expect(sent).toEqual(['+12015550124']);
  });
});
