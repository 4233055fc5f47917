/**
 * Whole runs (`runJob` on in-memory DuckDB) through the real Infobip adapter against a fake
 * Infobip on a local socket: the rate cap is never exceeded, transient failures end accepted,
 * REJECTED recipients fail with their status name, a refused key aborts the run (exit 1), and
 * bad answers (HTML or empty 200, truncated JSON, timeouts, resets) become clear per-row outcomes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { JobSchema } from '../../src/config/job.schema.js';
import type { LoadedConfig, LoadedJob } from '../../src/config/load.js';
import { RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { silentLogger } from '../../src/log.js';
import { runJob } from '../../src/pipeline/run-job.js';
import { createProvider } from '../../src/providers/registry.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.warehouse.js';
import { FakeInfobip, type FakeInfobipOptions } from '../support/fake-infobip.js';

/** Generated US numbers in the fictional 201-555-01xx range. */
const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

function loadedJob(rows: number, delivery: Record<string, unknown>): LoadedJob {
  const values = Array.from({ length: rows }, (_, i) => `('k${String(i).padStart(3, '0')}', '${phone(i)}', 'Name ${i}', 'true')`).join(', ');
  const job = JobSchema.parse({
    name: 'infobip_e2e',
    source: { query: `SELECT * FROM (VALUES ${values}) AS t(customer_id, phone, first_name, opt_in)` },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'US', consent: 'opt_in' },
    message: { provider: 'infobip', sender: '441134960000', template: { name: 'welcome_back', language: 'en_US' }, body: [{ column: 'first_name' }] },
    delivery,
  });
  return { job, file: 'infobip_e2e.yaml', sql: job.source.query!, sqlOrigin: 'infobip_e2e.yaml source.query' };
}

interface SendRow { send_id: string; row_key: string; recipient: string; status: string; reason: string | null; error_code: string | null; error_detail: string | null; attempts: number; provider_message_id: string | null }

/** The job's template as Infobip lists it (v2 shape): runs read it before their first send. */
const WELCOME_BACK = { name: 'welcome_back', language: 'en_US', status: 'APPROVED', category: 'UTILITY', structure: { body: { text: 'Welcome back, {{1}}!' } } };

let fake: FakeInfobip | undefined;
let wh: DuckDbWarehouse | undefined;
afterEach(async () => {
  await fake?.close();
  await wh?.close();
  fake = undefined;
  wh = undefined;
});

async function run(o: { rows: number; fake: FakeInfobipOptions; infobip?: Record<string, unknown>; delivery?: Record<string, unknown> }) {
  fake = await new FakeInfobip({ templates: [WELCOME_BACK], ...o.fake }).start();
  wh = await DuckDbWarehouse.open(':memory:');
  const loaded = loadedJob(o.rows, { rate_per_second: 1000, concurrency: 16, ...o.delivery });
  const config: LoadedConfig = {
    config: RuntimeConfigSchema.parse({ providers: { infobip: { base_url: fake.url, api_key: 'test-key', rate_per_second: 1000, batch_size: 5, batch_linger_ms: 5, timeout_ms: 2000, ...o.infobip } } }),
    file: 'herald.yaml',
    missing: [],
  };
  const provider = createProvider('infobip', config, { events: async () => {}, message: loaded.job.message }, loaded.file);
  const summary = await runJob({ loaded, wh, provider, senders: new SenderRegistry(), logger: silentLogger });
  await provider.close();
  const sends = await wh.query<SendRow>('SELECT send_id, row_key, recipient, status, reason, error_code, error_detail, attempts, provider_message_id FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [summary.run_id]);
  return { summary, sends, fake };
}

describe('infobip end to end', () => {
  it('paces under the cap, retries transient failures to acceptance, fails REJECTED rows with their status', async () => {
    const rejectedTo = new Set([phone(3), phone(17), phone(31)].map((p) => p.slice(1)));
    const { summary, sends, fake } = await run({
      rows: 48,
      delivery: { rate_per_second: 40 },
      fake: {
        ratePerSecond: 50,
        reject: (to) => (rejectedTo.has(to) ? { id: 18, name: 'REJECTED_DESTINATION_NOT_REGISTERED', description: 'Destination not registered' } : undefined),
        fault: (n) => ({ 2: 'http503_html', 3: 'http500', 4: 'http429' } as const)[n],
      },
    });
    expect(summary).toMatchObject({ status: 'succeeded', exit_code: 0, counts: { audience: 48, accepted: 45, failed: 3, unknown: 0 } });
    for (const s of sends) {
      if (rejectedTo.has(s.recipient.slice(1))) {
        expect(s).toMatchObject({ status: 'failed', reason: 'provider:REJECTED_DESTINATION_NOT_REGISTERED', error_code: 'REJECTED_DESTINATION_NOT_REGISTERED', error_detail: 'Destination not registered' });
      } else {
        expect(s).toMatchObject({ status: 'accepted', reason: null, provider_message_id: s.send_id });
        expect(fake.accepted.get(s.send_id)).toBe(1); // nobody messaged twice
      }
    }
    // The messages of the three failed requests were retried with the same messageId and ended accepted.
    const faulted = fake.requests.filter((r) => typeof r.answer === 'string' || r.answer !== 200).flatMap((r) => r.messageIds);
    expect(faulted.length).toBeGreaterThan(0);
    for (const id of faulted) {
      const row = sends.find((s) => s.send_id === id)!;
      expect(row.attempts).toBeGreaterThan(1);
      expect(fake.requestsWith(id).length).toBe(row.attempts);
    }
    expect(fake.rateLimited).toBe(0);
    expect(fake.maxPerSecond()).toBeLessThanOrEqual(50);
  });

  it('gathers concurrent sends into batched requests at high rates', async () => {
    // At 500/s the limiter releases 5 starts per 10 ms, which the adapter's linger gathers.
    const { summary, fake } = await run({ rows: 48, delivery: { rate_per_second: 500, concurrency: 48 }, fake: { ratePerSecond: 1000 } });
    expect(summary.counts).toMatchObject({ audience: 48, accepted: 48 });
    expect(fake.requests.length).toBeLessThan(24);
    expect(Math.max(...fake.requests.map((r) => r.messageIds.length))).toBeGreaterThan(1);
  });

  it('holds a cap below the job\'s rate by slowing down on 429, and still lands every row', async () => {
    const { summary, fake } = await run({ rows: 30, delivery: { rate_per_second: 60 }, fake: { ratePerSecond: 20 } });
    expect(summary.counts).toMatchObject({ audience: 30, accepted: 30 });
    expect(fake.rateLimited).toBeGreaterThan(0);
    expect(fake.maxPerSecond()).toBeLessThanOrEqual(20);
    expect([...fake.accepted.values()].every((n) => n === 1)).toBe(true);
  });

  it('a refused API key aborts the run with exit code 1 and sends nothing more', async () => {
    const { summary, sends, fake } = await run({ rows: 40, fake: { apiKey: 'the-real-key' }, delivery: { concurrency: 4 } });
    expect(summary).toMatchObject({ status: 'aborted', exit_code: 1 });
    expect(summary.error).toMatch(/infobip refused the request with provider:UNAUTHORIZED: HTTP 401: Invalid login details/);
    expect(fake.accepted.size).toBe(0);
    // Not the recipients' doing: every row stays pending (the refused ones with the code), none failed.
    const refused = sends.filter((s) => s.error_code === 'UNAUTHORIZED');
    expect(refused.length).toBeGreaterThan(0);
    expect(sends.every((s) => s.status === 'pending')).toBe(true);
    expect(fake.requests.length).toBeLessThan(10);
  });

  it('bad answers leave the outcome unknown, and the same messageId is sent again: accepted once, never twice', async () => {
    const faults = { 1: 'html200', 2: 'empty200', 3: 'truncated', 4: 'slow', 5: 'reset' } as const;
    const { summary, sends, fake } = await run({
      rows: 40,
      infobip: { batch_size: 4, timeout_ms: 300 },
      delivery: { concurrency: 8 },
      fake: { fault: (n) => faults[n as keyof typeof faults], slowMs: 1500, refuseDuplicateIds: true },
    });
    expect(summary).toMatchObject({ status: 'succeeded', exit_code: 0 });
    expect(summary.counts).toMatchObject({ audience: 40, accepted: 40, unknown: 0, failed: 0 });
    const faulted = fake.requests.filter((q) => typeof q.answer === 'string').flatMap((r) => r.messageIds);
    // Five faulted requests (the first of four messages; later ones may be retries, batched anew).
    expect(fake.requests.filter((q) => typeof q.answer === 'string')).toHaveLength(5);
    for (const id of faulted) {
      // A later attempt carried the same messageId; Infobip took each message once.
      const row = sends.find((s) => s.send_id === id)!;
      expect(row.status).toBe('accepted');
      expect(row.attempts).toBeGreaterThanOrEqual(2);
      expect(fake.accepted.get(id)).toBe(1);
    }
    expect(sends.every((s) => fake.accepted.get(s.send_id) === 1)).toBe(true);
  });
});
