/**
 * The job report's figures on DuckDB and PostgreSQL: reasons that add up to the funnel's failed
 * (webhook failures included), each code's explanation, the headline per attempted send (the
 * re-run whose view rate reads 100%), latency, splits by template and country, and the failed
 * rows CSV. Two runs of one job are written straight into the tables; every expected figure is
 * worked out by hand in the comments, never by the code under test.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, explanationLine, NO_EXPLANATION } from '../../src/report/codes.js';
import { failedCsv, failedRows } from '../../src/report/failed-rows.js';
import { funnel, funnelTable, reasons, type FunnelRow, type ReasonRow } from '../../src/report/funnel.js';
import { headlineOf, headlineText } from '../../src/report/headline.js';
import { funnelHtml } from '../../src/report/html-report.js';
import { buildOverview } from '../../src/report/overview.js';
import { costs } from '../../src/report/costs.js';
import { latencies } from '../../src/report/latency.js';
import { splits } from '../../src/report/splits.js';
import { EVENTS, RATE_CARD, RUNS, SENDS } from '../../src/warehouse/tables.js';
import type { Row, Warehouse } from '../../src/warehouse/warehouse.js';
import { ENGINES } from '../helpers/engines.js';
import { checkHtml } from './html-check.js';

const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;
const T1 = Date.parse('2026-03-01T10:00:00Z');
const T2 = Date.parse('2026-03-02T10:00:00Z');
const at = (base: number, s: number) => new Date(base + s * 1000);

function send(run: string, key: string, i: number, o: Partial<Row>): Row {
  const base = run === 'r1' ? T1 : T2;
  return {
    send_id: `${run}:${key}`, run_id: run, job: 'figures', row_key: key, recipient: phone(i), idempotency_key: `figures:${key}`,
    provider: 'meta', sender: '106540352242922', template: 'promo', language: 'en', variables: {}, status: 'accepted', reason: null,
    error_code: null, error_detail: null, provider_message_id: `wamid.${run}.${key}`, attempts: 1, created_at: at(base, 0), sent_at: at(base, 0),
    not_before: null, api: 'messages', country: 'US', ...o,
  };
}

let n = 0;
function event(run: string, key: string, type: string, seconds: number, code: string | null = null): Row {
  return {
    event_id: `e${++n}`, provider: 'meta', event_type: type, provider_message_id: `wamid.${run}.${key}`, recipient: null,
    occurred_at: at(run === 'r1' ? T1 : T2, seconds), received_at: at(run === 'r1' ? T1 : T2, seconds), error_code: code,
    error_detail: code ? `code ${code}` : null, pricing_category: null, payload: {}, send_id: `${run}:${key}`,
  };
}

const run = (id: string, started: number): Row => ({
  run_id: id, job: 'figures', run_key: id, status: 'succeeded', dry_run: false, started_at: new Date(started), finished_at: new Date(started + 60_000),
  audience: 10, rejected: 0, suppressed: 0, duplicate: 0, planned: 0, accepted: 0, failed: 0, deferred: 0, unknown: 0, error: null,
});

const FAILED_AT_SEND = { status: 'failed', reason: 'provider:131026', error_code: '131026', error_detail: 'Message undeliverable', provider_message_id: null, sent_at: null };
const welcome = { template: 'welcome', language: 'pt_BR' };

/**
 * r1 (audience 10): k1-k4 promo, accepted and delivered after 10, 20, 30, 40 s; k1 read at 70 s,
 * k2 at 130 s. k5-k7 welcome, accepted, then failed by webhook (131026, 130472, 999999 unknown).
 * k8 failed at send (131026). k9 rejected invalid_phone, k10 suppressed no_consent.
 * Countries: k1 k2 k8 k10 US, k3-k6 BR, k7 MX, k9 none.
 * r2, a re-run (audience 10, all promo, US): k1-k4 duplicate already_sent, t1 failed at send
 * (131026), t2-t4 deferred by Meta's 131049 status, t5 t6 unknown.
 */
async function seed(wh: Warehouse): Promise<void> {
  await wh.insert(RUNS, [run('r1', T1), run('r2', T2)]);
  await wh.insert(SENDS, [
    send('r1', 'k1', 1, {}), send('r1', 'k2', 2, {}), send('r1', 'k3', 3, { country: 'BR' }), send('r1', 'k4', 4, { country: 'BR' }),
    send('r1', 'k5', 5, { ...welcome, country: 'BR' }), send('r1', 'k6', 6, { ...welcome, country: 'BR' }), send('r1', 'k7', 7, { ...welcome, country: 'MX' }),
    send('r1', 'k8', 8, FAILED_AT_SEND),
    send('r1', 'k9', 9, { status: 'rejected', reason: 'invalid_phone', recipient: null, country: null, provider_message_id: null, sent_at: null }),
    send('r1', 'k10', 10, { status: 'suppressed', reason: 'no_consent', provider_message_id: null, sent_at: null }),
    ...['k1', 'k2', 'k3', 'k4'].map((k, i) => send('r2', k, i + 1, { status: 'duplicate', reason: 'already_sent', provider_message_id: null, sent_at: null })),
    send('r2', 't1', 11, FAILED_AT_SEND),
    ...['t2', 't3', 't4'].map((k, i) => send('r2', k, 12 + i, { status: 'deferred', reason: 'provider:131049', error_code: '131049' })),
    ...['t5', 't6'].map((k, i) => send('r2', k, 15 + i, { status: 'unknown', reason: 'outcome_unknown', provider_message_id: null })),
  ]);
  await wh.insert(EVENTS, [
    { ...event('r1', 'k1', 'sent', 1), pricing_category: 'marketing', billable: true, pricing_model: 'PMP', pricing_type: 'regular' }, event('r1', 'k1', 'delivered', 10), event('r1', 'k1', 'read', 70),
    event('r1', 'k2', 'delivered', 20), event('r1', 'k2', 'read', 130), event('r1', 'k2', 'delivered', 25), // a later duplicate: the first counts
    event('r1', 'k3', 'delivered', 30), event('r1', 'k4', 'delivered', 40),
    event('r1', 'k5', 'failed', 5, '131026'), event('r1', 'k6', 'failed', 6, '130472'), event('r1', 'k7', 'failed', 7, '999999'),
    ...['t2', 't3', 't4'].map((k) => event('r2', k, 'failed', 3, '131049')),
  ]);
  await wh.insert(RATE_CARD, [{ rate_id: 'us-mkt', provider: 'meta', country: 'US', category: 'marketing', currency: 'USD', price: '0.025', effective_from: new Date('2026-01-01T00:00:00Z'), source: 'test' }]);
}

for (const engine of ENGINES) {
  describe(`job report figures on ${engine.name}`, () => {
    let wh: Warehouse;
    let cleanup: () => Promise<void>;
    let rows: FunnelRow[];
    let why: ReasonRow[];
    beforeAll(async () => {
      ({ wh, cleanup } = await engine.open());
      await seed(wh);
      rows = await funnel(wh, { job: 'figures' });
      why = await reasons(wh, ['r1', 'r2']);
    }, 60_000);
    afterAll(async () => {
      await wh.close();
      await cleanup();
    });

    const of = (run: string) => rows.find((r) => r.run_id === run)!;

    it('failed reasons add up to the funnel\'s failed, webhook failures included', () => {
      // r1 failed: k5 k6 k7 by webhook, k8 at send = 4
      expect(Number(of('r1').failed)).toBe(4);
      const failed = why.filter((x) => x.run_id === 'r1' && x.status === 'failed')
        .map((x) => `${x.reason} ${x.failed_by} ${x.count}`).sort();
      expect(failed).toEqual(['provider:130472 webhook 1', 'provider:131026 send 1', 'provider:131026 webhook 1', 'provider:999999 webhook 1']);
      expect(failed.reduce((sum, x) => sum + Number(x.split(' ')[2]), 0)).toBe(4);
      // r2: t1 only (131049 is a deferral, not a failure)
      expect(Number(of('r2').failed)).toBe(1);
      expect(why.filter((x) => x.run_id === 'r2' && x.status === 'failed').map((x) => Number(x.count))).toEqual([1]);
      // Accepted sends that failed by webhook are no longer counted as accepted among the reasons: k1-k4 remain.
      expect(why.find((x) => x.run_id === 'r1' && x.status === 'accepted')?.count).toBe(4);
    });

    it('the text report explains every code, and says so when it knows none', () => {
      const text = funnelTable(rows, why);
      expect(text).toMatch(/failed\/provider:131026 \(webhook\)\s+1 {2}message undeliverable: not a WhatsApp user/);
      expect(text).toMatch(/failed\/provider:130472 \(webhook\)\s+1 {2}the user is in a Meta marketing-message experiment group/);
      expect(text).toMatch(/failed\/provider:999999 \(webhook\)\s+1 {2}no explanation known/);
      expect(text).toMatch(/rejected\/invalid_phone\s+1 {2}the phone column is not a valid number/);
    });

    it('the headline of the re-run is per attempted send of the run, not "Failed 100.0%"', () => {
      // The view's own rate: failed 1 / (accepted 0 + failed 1).
      expect(Number(of('r2').failure_rate)).toBe(1);
      const h = headlineOf(of('r2'), why);
      // attempted: t1 failed + t2-t4 deferred by the provider + t5 t6 unknown = 6 of 10
      expect(h).toMatchObject({ audience: 10, attempted: 6, failed: 1, deferred_by_provider: 3, unknown: 2, delivered: 0 });
      expect(headlineText(h)).toBe('6 sends attempted in this run (handed to the provider: accepted, failed, deferred by it, or outcome unknown); ' +
        '4 of 10 audience rows were not attempted. Of the attempted: delivered 0 (0.0%), read 0 (0.0%), failed 1 (16.7%); ' +
        'deferred by the provider 3 (50.0%), outcome unknown 2 (33.3%).');
      // r1: attempted k1-k8 = 8; delivered 4/8, read 2/8, failed 4/8 (3 by webhook)
      expect(headlineText(headlineOf(of('r1'), why))).toBe('8 sends attempted in this run (handed to the provider: accepted, failed, deferred by it, or outcome unknown); ' +
        '2 of 10 audience rows were not attempted. Of the attempted: delivered 4 (50.0%), read 2 (25.0%), failed 4 (50.0%), 3 of them by a status webhook after acceptance.');
      expect(funnelTable(rows, why)).not.toContain('100.0%');
    });

    it('latency: median and p90 from sent_at to the first delivered and read status', async () => {
      const l = await latencies(wh, ['r1', 'r2']);
      // r1 delivered after 10, 20, 30, 40 s: median 25; p90 at rank 0.9 × 3 = 2.7 → 30 + 0.7 × 10 = 37.
      // read after 70 and 130 s: median 100; p90 at 0.9 × 1 → 70 + 0.9 × 60 = 124.
      const r1 = { delivered: 4, delivery_median_s: 25, delivery_p90_s: 37, read: 2, read_median_s: 100, read_p90_s: 124 };
      expect(l.find((x) => x.run_id === 'r1')).toEqual({ run_id: 'r1', ...r1 });
      // r2 has no delivery at all.
      expect(l.find((x) => x.run_id === 'r2')).toEqual({ run_id: 'r2', delivered: 0, delivery_median_s: null, delivery_p90_s: null, read: 0, read_median_s: null, read_p90_s: null });
      // All runs together: the same sends as r1.
      expect(l.find((x) => x.run_id === null)).toEqual({ run_id: null, ...r1 });
    });

    it('splits by template and by country, rates per attempted send', async () => {
      const pick = (s: { key: string; audience: number; attempted: number; delivered: number; read: number; failed: number }) =>
        [s.key, s.audience, s.attempted, s.delivered, s.read, s.failed];
      // promo@en: r1 k1-k4 k8 k9 k10 (7) + r2's 10 = 17 rows; attempted k1-k4, k8 + r2's 6 = 11; delivered 4, read 2, failed k8 t1 = 2.
      // welcome@pt_BR: k5-k7, all attempted and failed.
      expect((await splits(wh, ['r1', 'r2'], 'template')).map(pick)).toEqual([['promo@en', 17, 11, 4, 2, 2], ['welcome@pt_BR', 3, 3, 0, 0, 3]]);
      // US: k1 k2 k8 k10 + r2's 10 = 14 rows; attempted k1 k2 k8 + 6 = 9; delivered k1 k2; read k1 k2; failed k8 t1.
      // BR: k3-k6, attempted 4, delivered k3 k4, failed k5 k6. MX: k7 failed. No country: k9, rejected.
      const byCountry = (await splits(wh, ['r1', 'r2'], 'country')).map(pick).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      expect(byCountry).toEqual([['(unknown)', 1, 0, 0, 0, 0], ['BR', 4, 4, 2, 0, 2], ['MX', 1, 1, 0, 0, 1], ['US', 14, 9, 2, 2, 2]]);
    });

    it('the failed rows CSV: failed and rejected rows with where they failed and what the code means', async () => {
      const csv = failedCsv(await failedRows(wh, ['r1', 'r2']));
      const lines = parse(csv, { columns: true }) as Record<string, string>[];
      expect(lines.map((l) => [l.run_id, l.row_key, l.status, l.reason, l.failed_by, l.error_code, l.at])).toEqual([
        ['r1', 'k6', 'failed', 'provider:130472', 'webhook', '130472', '2026-03-01T10:00:06.000Z'],
        ['r1', 'k5', 'failed', 'provider:131026', 'webhook', '131026', '2026-03-01T10:00:05.000Z'],
        ['r1', 'k8', 'failed', 'provider:131026', 'send', '131026', '2026-03-01T10:00:00.000Z'],
        ['r1', 'k7', 'failed', 'provider:999999', 'webhook', '999999', '2026-03-01T10:00:07.000Z'],
        ['r1', 'k9', 'rejected', 'invalid_phone', '', '', '2026-03-01T10:00:00.000Z'],
        ['r2', 't1', 'failed', 'provider:131026', 'send', '131026', '2026-03-02T10:00:00.000Z'],
      ]);
      const k5 = lines.find((l) => l.row_key === 'k5')!;
      expect([k5.recipient, k5.country, k5.template]).toEqual([phone(5), 'BR', 'welcome']);
      expect(k5.meaning).toBe('message undeliverable: not a WhatsApp user, old app, or terms not accepted');
      expect(lines.find((l) => l.row_key === 'k7')!.meaning).toBe(NO_EXPLANATION);
      expect(lines.find((l) => l.row_key === 'k8')!.error_detail).toBe('Message undeliverable');
    });

    it('the job report as HTML is well formed, with the chart, latency, splits and the CSV link', async () => {
      const cost = await costs(wh, ['r1', 'r2']);
      const overview = await buildOverview(wh, rows, why, cost, { href: 'report.failed.csv', rows: 6 });
      // k1's sent status is billed as US marketing at 0.025; nothing else is priced.
      expect(overview.runs.map((r) => [r.run_id, r.cost])).toEqual([['r2', ''], ['r1', 'USD 0.025']]);
      const html = funnelHtml(rows, why, new Date(0), cost, overview);
      expect(checkHtml(html)).toEqual([]);
      expect(html).toContain('aria-label="runs over time"');
      expect(html).toContain('<a href="report.failed.csv" download>report.failed.csv</a> (6 rows');
      expect(html).toContain('<td>r1</td><td class="n">4</td><td class="n">25 s</td><td class="n">37 s</td><td class="n">2</td><td class="n">1.7 min</td><td class="n">2.1 min</td>');
      expect(html).toContain('<td>welcome@pt_BR</td><td class="n">3</td><td class="n">3</td>');
      expect(html).toContain('failed 1 (16.7%)');
      expect(html).toContain('<td class="n">USD 0.025</td></tr>');
      expect(html).not.toMatch(/Failed 100\.0%|failed 1 \(100\.0%\)/);
    });
  });
}

describe('code explanations', () => {
  it('knows herald\'s reasons, Meta codes, the 132000 series and Infobip statuses', () => {
    for (const reason of ['invalid_phone', 'not_mobile', 'invalid_user_id', 'no_consent', 'opted_out', 'already_sent', 'outside_window',
      'quiet_hours', 'marketing_not_delivered_in_country', 'messaging_limit', 'provider:131026', 'provider:131049', 'provider:131050',
      'provider:131047', 'provider:130472', 'provider:131021', 'provider:131008', 'provider:131009', 'provider:132000', 'provider:132015',
      '131026', 'provider:REJECTED_DND', 'UNDELIVERABLE_NOT_DELIVERED', 'EXPIRED']) {
      expect(explain(reason), reason).not.toBeNull();
    }
    expect(explain('provider:132099')?.meaning).toBe('a template problem (Meta 132000-series)');
    expect(explain('provider:131047')?.action).toBe('send an approved template instead');
    expect(explanationLine('provider:424242')).toBe(NO_EXPLANATION);
    expect(explain(null)).toBeNull();
  });
});
