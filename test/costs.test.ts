/**
 * Costs on DuckDB and PostgreSQL alike: herald.rate_card loaded from a CSV, herald.send_costs
 * pricing each send once from the `pricing` of Meta status webhooks (landed through the webhook
 * mapping, payloads shaped like test/fixtures/meta/status-sent.json), herald.marketing_fatigue from
 * 131049 deferrals, and the report's cost lines. Every expected figure is worked out by hand in
 * the comments from the test rate card below, never by the code under test.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRateCard, shippedRateCard, syncRateCard, RATE_CATEGORIES } from '../src/cost/rate-card.js';
import { ConfigError } from '../src/errors.js';
import { landEvents } from '../src/events/event.js';
import { metaStatusEvent, type MetaStatus } from '../src/providers/meta/meta.status.js';
import { costs } from '../src/report/costs.js';
import { funnel, funnelTable, reasons } from '../src/report/funnel.js';
import { openWarehouse } from '../src/warehouse/open.js';
import { RUNS, SENDS } from '../src/warehouse/tables.js';
import type { Row, Warehouse } from '../src/warehouse/warehouse.js';
import { freshPgUrl } from './helpers/pg.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-costs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = 'provider,country,category,currency,price,effective_from,source';
/** The test card: BR marketing changes on 2026-01-01; JP and unknown countries take the `*` rows; no authentication row at all. */
const CARD = `# test rate card
${HEADER}
meta,BR,marketing,USD,0.0688,2025-07-01,test
meta,BR,marketing,USD,0.0782,2026-01-01,test
meta,*,marketing,USD,0.1502,2025-07-01,test
meta,US,utility,USD,0.0044,2025-07-01,test
meta,*,utility,USD,0.0605,2025-07-01,test
meta,*,service,USD,0,2025-07-01,test
`;

function card(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

// A status as Meta sends it (test/fixtures/meta/status-sent.json), with this message's fields.
const FIXTURE = (JSON.parse(readFileSync(new URL('./fixtures/meta/status-sent.json', import.meta.url), 'utf8')) as
  { entry: { changes: { value: { statuses: MetaStatus[] } }[] }[] }).entry[0]!.changes[0]!.value.statuses[0]!;
const FAILED = (JSON.parse(readFileSync(new URL('./fixtures/meta/status-failed.json', import.meta.url), 'utf8')) as
  { entry: { changes: { value: { statuses: MetaStatus[] } }[] }[] }).entry[0]!.changes[0]!.value.statuses[0]!;

const unix = (iso: string) => String(Date.parse(iso) / 1000);
function status(wamid: string, kind: string, iso: string, pricing: MetaStatus['pricing'] | null): MetaStatus {
  const { pricing: _fixturePricing, ...rest } = FIXTURE;
  return { ...rest, id: wamid, status: kind, timestamp: unix(iso), ...(pricing ? { pricing } : {}) };
}
const billed = (category: string): MetaStatus['pricing'] => ({ billable: true, pricing_model: 'PMP', type: 'regular', category });

function send(id: string, run: string, country: string | null, extra: Partial<Row> = {}): Row {
  return {
    send_id: id, run_id: run, job: 'cost_test', row_key: `k-${id}`, recipient: `+55119${id.replace(/\D/g, '').padStart(8, '0')}`,
    idempotency_key: `idem-${id}`, provider: 'meta', sender: '106540352242922', template: 'promo', language: 'pt_BR', variables: {},
    status: 'accepted', reason: null, error_code: null, error_detail: null, provider_message_id: `wamid.${id}`, attempts: 1,
    created_at: new Date('2025-12-31T00:00:00Z'), sent_at: new Date('2025-12-31T00:00:00Z'), not_before: null, api: 'messages', country,
    ...extra,
  };
}

function engine(name: string, open: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  describe(`costs on ${name}`, () => {
    let wh: Warehouse;
    let cleanup: () => Promise<void>;
    const received = new Date('2026-02-01T00:00:00Z');
    const land = (...statuses: MetaStatus[]) => landEvents(wh, statuses.map((s) => metaStatusEvent(s, received)));

    beforeAll(async () => {
      ({ wh, cleanup } = await open());
      const run = (id: string) => ({
        run_id: id, job: 'cost_test', run_key: id, status: 'succeeded', dry_run: false, started_at: new Date('2025-12-31T00:00:00Z'),
        finished_at: null, audience: 0, rejected: 0, suppressed: 0, duplicate: 0, planned: 0, accepted: 0, failed: 0, deferred: 0, unknown: 0, error: null,
      });
      await wh.insert(RUNS, [run('r1'), run('r2')]);
      await wh.insert(SENDS, [
        send('s1', 'r1', 'BR'), send('s2', 'r1', 'BR'), send('s3', 'r1', 'JP'), send('s4', 'r1', null), send('s5', 'r1', 'US'),
        send('s6', 'r1', 'US'), send('s7', 'r1', 'US'), send('s8', 'r1', 'US'), send('s9', 'r1', 'US'),
        send('f1', 'r2', 'US', { recipient: '+16505551234' }),
        send('f2', 'r2', 'US', { recipient: '+16505551234', status: 'deferred', reason: 'provider:131049', error_code: '131049', provider_message_id: null,
          sent_at: new Date('2026-01-03T00:00:00Z') }),
        send('f3', 'r2', 'US', { recipient: '+16505550000', status: 'deferred', reason: 'messaging_limit', provider_message_id: null, sent_at: null }),
      ]);
      await syncRateCard(wh, card('test.csv', CARD));
      await land(
        // s1: priced on sent (2025-12-31, before BR's 2026 price) and again on delivered (2026-01-01): billed once, 0.0688.
        status('wamid.s1', 'sent', '2025-12-31T23:00:00Z', billed('marketing')),
        status('wamid.s1', 'delivered', '2026-01-01T01:00:00Z', billed('marketing')),
        // s2: 2026-01-02, BR's 2026 price: 0.0782.
        status('wamid.s2', 'sent', '2026-01-02T00:00:00Z', billed('marketing')),
        // s3: JP has no row: the * marketing row, 0.1502.
        status('wamid.s3', 'sent', '2026-01-02T00:00:00Z', billed('marketing')),
        // s4: no country: the * utility row, 0.0605.
        status('wamid.s4', 'sent', '2026-01-02T00:00:00Z', billed('utility')),
        // s5: free inside the customer service window: 0 (in USD, the US utility row's currency).
        status('wamid.s5', 'sent', '2026-01-02T00:00:00Z', { billable: false, pricing_model: 'PMP', type: 'free_customer_service', category: 'utility' }),
        // s6: the same status twice (one event) and read with pricing as well: billed once, 0.0044.
        status('wamid.s6', 'sent', '2026-01-02T00:00:00Z', billed('utility')),
        status('wamid.s6', 'sent', '2026-01-02T00:00:00Z', billed('utility')),
        status('wamid.s6', 'read', '2026-01-02T00:05:00Z', billed('utility')),
        // s7: authentication has no row on this card: billable, no rate, cost null.
        status('wamid.s7', 'sent', '2026-01-02T00:00:00Z', billed('authentication')),
        // s8: no `billable` (deprecated by Meta), type regular: billable, US utility 0.0044.
        status('wamid.s8', 'sent', '2026-01-02T00:00:00Z', { pricing_model: 'PMP', type: 'regular', category: 'utility' }),
        // s9: statuses without pricing: not in send_costs.
        status('wamid.s9', 'sent', '2026-01-02T00:00:00Z', null),
        // f1: 131049 in a failed status after acceptance: deferred (fatigue), and priced nowhere.
        { ...FAILED, id: 'wamid.f1', timestamp: unix('2026-01-02T12:00:00Z') },
      );
    });
    afterAll(async () => {
      await wh?.close();
      await cleanup?.();
    });

    it('send_costs: one row per priced send; rate by country, else *, in effect at the priced status; once per send; free is 0', async () => {
      const rows = await wh.query<Record<string, unknown>>(
        'SELECT send_id, country, category, billable, currency, CAST(cost AS VARCHAR) AS cost FROM herald.send_costs ORDER BY send_id');
      const money = (v: unknown) => (v === null ? null : Number(v));
      expect(rows.map((r) => [r.send_id, r.country, r.category, r.billable, r.currency, money(r.cost)])).toEqual([
        ['s1', 'BR', 'marketing', true, 'USD', 0.0688],
        ['s2', 'BR', 'marketing', true, 'USD', 0.0782],
        ['s3', 'JP', 'marketing', true, 'USD', 0.1502],
        ['s4', null, 'utility', true, 'USD', 0.0605],
        ['s5', 'US', 'utility', false, 'USD', 0],
        ['s6', 'US', 'utility', true, 'USD', 0.0044],
        ['s7', 'US', 'authentication', true, null, null],
        ['s8', 'US', 'utility', true, 'USD', 0.0044],
      ]);
    });

    it('the report: cost per run by category and currency, totals, and deferral reasons', async () => {
      expect(await costs(wh, ['r1', 'r2'])).toEqual([
        { run_id: 'r1', category: 'authentication', currency: null, priced: 1, billable: 1, unpriced: 1, cost: null },
        // 0.0688 + 0.0782 + 0.1502 = 0.2972
        { run_id: 'r1', category: 'marketing', currency: 'USD', priced: 3, billable: 3, unpriced: 0, cost: '0.2972' },
        // s4 0.0605 + s5 0 + s6 0.0044 + s8 0.0044 = 0.0693
        { run_id: 'r1', category: 'utility', currency: 'USD', priced: 4, billable: 3, unpriced: 0, cost: '0.0693' },
      ]);
      const rows = await funnel(wh, { job: 'cost_test' });
      const text = funnelTable(rows, await reasons(wh, ['r1', 'r2']), await costs(wh, ['r1', 'r2']));
      expect(text).toMatch(/marketing\s+3 billable of 3 priced {2}USD 0\.2972/);
      expect(text).toMatch(/authentication\s+1 billable of 1 priced {2}no rate, 1 without a rate/);
      // 0.2972 + 0.0693 = 0.3665
      expect(text).toContain('total USD 0.3665');
      expect(text).toContain('cost: no priced status yet');
      expect(text).toMatch(/provider:131049\s+2 {2}marketing limit per user \(Meta 131049, fatigue\)/);
      expect(text).toMatch(/messaging_limit\s+1 {2}messaging limit/);
    });

    it('marketing_fatigue: 131049 deferrals per recipient and job, by webhook or by the send\'s answer', async () => {
      const rows = await wh.query<Record<string, unknown>>('SELECT recipient, job, deferrals, last_deferred_at FROM herald.marketing_fatigue ORDER BY recipient');
      // f1 by webhook at 2026-01-02T12:00, f2 by the answer (sent 2026-01-03): the later is f2's.
      expect(rows.map((r) => [r.recipient, r.job, Number(r.deferrals), new Date(r.last_deferred_at as string).toISOString()]))
        .toEqual([['+16505551234', 'cost_test', 2, '2026-01-03T00:00:00.000Z']]);
    });

    it('a changed rate card replaces the table: new prices, removed rows gone, the same file twice changes nothing', async () => {
      const changed = CARD.replace('meta,BR,marketing,USD,0.0782,2026-01-01,test', 'meta,BR,marketing,USD,0.08,2026-01-01,test')
        .replace('meta,*,service,USD,0,2025-07-01,test\n', '');
      await syncRateCard(wh, card('changed.csv', changed));
      await syncRateCard(wh, card('changed.csv', changed));
      const table = await wh.query<{ rate_id: string; price: string }>('SELECT rate_id, price FROM herald.rate_card ORDER BY rate_id');
      expect(table.map((r) => `${r.rate_id}=${r.price}`)).toEqual([
        'meta|*|marketing|2025-07-01=0.1502', 'meta|*|utility|2025-07-01=0.0605', 'meta|BR|marketing|2025-07-01=0.0688',
        'meta|BR|marketing|2026-01-01=0.08', 'meta|US|utility|2025-07-01=0.0044',
      ]);
      const [s2] = await wh.query<{ cost: string }>("SELECT CAST(cost AS VARCHAR) AS cost FROM herald.send_costs WHERE send_id = 's2'");
      expect(Number(s2!.cost)).toBe(0.08);
      await syncRateCard(wh, card('test.csv', CARD));
    });
  });
}

engine('DuckDB', async () => ({ wh: await openWarehouse('duckdb::memory:'), cleanup: async () => undefined }));
engine('PostgreSQL', async () => {
  const pg = await freshPgUrl();
  return { wh: await openWarehouse(pg.url), cleanup: pg.cleanup };
});

describe('rate card file', () => {
  it('the shipped card parses, has a * row for every category, and names a source on every row', () => {
    const rates = readRateCard(shippedRateCard());
    for (const category of RATE_CATEGORIES) expect(rates.some((r) => r.country === '*' && r.category === category), category).toBe(true);
    expect(rates.every((r) => r.source.length > 0)).toBe(true);
  });

  it('a bad row names the file, its line and the column', () => {
    const file = card('bad.csv', `# comment\n${HEADER}\nmeta,BR,marketing,USD,0.0688,2025-07-01,test\nmeta,Brazil,utilty,USD,1.2345678,2025-13-01,\n`);
    let error: unknown;
    try {
      readRateCard(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as ConfigError).message.split('\n');
    expect(lines).toEqual([
      `${file}:4 at country: "Brazil" is not a two-letter region (such as US or JP, or * for every other country)`,
      `${file}:4 at category: unknown category "utilty" (marketing, utility, authentication, authentication_international, service)`,
      `${file}:4 at price: "1.2345678" is not a price (a decimal with at most 6 places, such as 0.0275)`,
      `${file}:4 at effective_from: "2025-13-01" is not a date (YYYY-MM-DD)`,
      `${file}:4 at source: no source (say where the figure came from, and when)`,
    ]);
  });

  it('a second price for the same key and date, a missing column and a missing file are errors too', () => {
    const twice = card('twice.csv', `${HEADER}\nmeta,BR,marketing,USD,0.0688,2025-07-01,a\nmeta,BR,marketing,USD,0.07,2025-07-01,b\n`);
    expect(() => readRateCard(twice)).toThrow(`${twice}:3 at effective_from: a second price for meta BR marketing from 2025-07-01 (the first is on line 2)`);
    const noSource = card('nosource.csv', 'provider,country,category,currency,price,effective_from\nmeta,BR,marketing,USD,0.0688,2025-07-01\n');
    expect(() => readRateCard(noSource)).toThrow('the header lacks source');
    expect(() => readRateCard(join(dir, 'nope.csv'))).toThrow(/nope\.csv: cannot read the rate card/);
  });
});
