/**
 * `herald run --dry-run` prints the estimated cost (planned messages by country × the category ×
 * the rate card) and puts it in the --json summary; the category comes from the job, else from the
 * provider's template listing (a local server in Meta's shape), else it is unknown and said so.
 * Expected figures are worked out by hand from the rate cards written here.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli.js';

let server: Server;
let listing: unknown[] | null = null;
let dir: string;
const startCwd = process.cwd();

beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && req.url?.startsWith('/v24.0/WABA1/message_templates') && listing) return res.end(JSON.stringify({ data: listing }));
    res.statusCode = 500;
    res.end(JSON.stringify({ error: { message: 'not in this test', code: 1 } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const HEADER = 'provider,country,category,currency,price,effective_from,source';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-cost-cli-'));
  process.chdir(dir);
  const { port } = server.address() as AddressInfo;
  writeFileSync('herald.yaml', `
warehouses: { default: { url: "duckdb:${join(dir, 'w.duckdb')}" } }
providers:
  meta: { base_url: "http://127.0.0.1:${port}", graph_version: v24.0, access_token: TEST_TOKEN, waba_id: WABA1 }
costs: { rate_card: rates.csv }
`);
  // BR changes on 2026-01-01 (the dry runs here price at today's date, later than that).
  writeFileSync('rates.csv', `${HEADER}
sandbox,BR,marketing,USD,0.0688,2025-07-01,test
sandbox,BR,marketing,USD,0.0782,2026-01-01,test
sandbox,*,marketing,USD,0.15,2025-07-01,test
meta,BR,utility,USD,0.0085,2026-01-01,test
meta,*,utility,USD,0.06,2025-07-01,test
`);
  vi.stubEnv('HERALD_CONFIG', join(dir, 'herald.yaml'));
  vi.stubEnv('HERALD_CACHE_DIR', join(dir, 'cache'));
  vi.stubEnv('HERALD_LOG_LEVEL', 'silent');
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  listing = null;
});
afterEach(() => {
  process.chdir(startCwd);
  rmSync(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** Two Brazilian mobiles, a Japanese one, a British one, and a US one (marketing to US is rejected by default). */
const SEGMENT = "SELECT * FROM (VALUES ('c1', '+5511987654321', true), ('c2', '+5521987654321', true), ('c3', '+819012345678', true), " +
  "('c4', '+447400123456', true), ('c5', '+12015550123', true)) t(k, p, ok)";

function writeJob(provider: 'sandbox' | 'meta', category?: string): void {
  writeFileSync('job.yaml', `
name: cost_job
source: { query: "${SEGMENT}" }
audience: { key: k, phone: p, default_region: JP, consent: ok }
message:
  provider: ${provider}
  sender: "106540352242922"
  template: { name: promo, language: en_US }
${category ? `  category: ${category}\n` : ''}`);
}

const printed = (spy: unknown) => (spy as { mock: { calls: unknown[][] } }).mock.calls.map((c) => c.join(' ')).join('\n');
function lastJson(): Record<string, unknown> {
  const lines = printed(console.log).trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

describe('herald run --dry-run: estimated cost', () => {
  it('by country × the job\'s category × the rate card, in the table and in --json', async () => {
    writeJob('sandbox', 'marketing');
    expect(await main(['run', 'job.yaml', '--dry-run', '--json']), printed(console.error)).toBe(0);
    const out = printed(console.error); // --json: the table goes to stderr, stdout holds the summary alone
    // BR 2 × 0.0782 = 0.1564; GB and JP have no row: 1 × 0.15 each; total 0.1564 + 0.15 + 0.15 = 0.4564.
    expect(out).toContain('estimated cost: 4 planned messages, sandbox marketing (message.category)');
    expect(out).toMatch(/BR\s+2 × USD 0\.0782 = USD 0\.1564/);
    expect(out).toMatch(/GB\s+1 × USD 0\.15 \(default \* rate\) = USD 0\.15/);
    expect(out).toMatch(/JP\s+1 × USD 0\.15 \(default \* rate\) = USD 0\.15/);
    expect(out).toContain('total USD 0.4564');
    const summary = lastJson();
    expect(summary.estimated_cost).toMatchObject({
      provider: 'sandbox', category: 'marketing', category_from: 'job', messages: 4, unpriced: 0,
      totals: [{ currency: 'USD', cost: '0.4564' }],
      lines: [
        { country: 'BR', messages: 2, rate_country: 'BR', currency: 'USD', rate: '0.0782', effective_from: '2026-01-01', cost: '0.1564' },
        { country: 'GB', messages: 1, rate_country: '*', currency: 'USD', rate: '0.15', cost: '0.15' },
        { country: 'JP', messages: 1, rate_country: '*', currency: 'USD', rate: '0.15', cost: '0.15' },
      ],
    });
  });

  it('the template\'s category from the provider when the job gives none; unknown, and said so, when the listing fails', async () => {
    listing = [{ name: 'promo', language: 'en_US', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL', components: [{ type: 'BODY', text: 'Hi' }] }];
    writeJob('meta');
    expect(await main(['run', 'job.yaml', '--dry-run', '--json']), printed(console.error)).toBe(0);
    // Utility: the US row is sent too. BR 2 × 0.0085 = 0.017; GB, JP, US 1 × 0.06 each = 0.18; total 0.197.
    expect(printed(console.error)).toContain('meta utility (the template\'s category at the provider)');
    expect(lastJson().estimated_cost).toMatchObject({ category: 'utility', category_from: 'template', messages: 5, totals: [{ currency: 'USD', cost: '0.197' }] });

    listing = null;
    vi.stubEnv('HERALD_CACHE_DIR', join(dir, 'cache-empty'));
    writeJob('meta');
    expect(await main(['run', 'job.yaml', '--dry-run', '--json']), printed(console.error)).toBe(0);
    const out = printed(console.error);
    expect(out).toContain('unknown: set message.category, or let pre-flight list the template');
    expect(out).toMatch(/have no rate on the card: the category is unknown/);
    expect(lastJson().estimated_cost).toMatchObject({ category: 'unknown', category_from: 'unknown', totals: [], unpriced: 5 });
  });

  it('a bad rate card stops with the file, line and column', async () => {
    writeFileSync('rates.csv', `${HEADER}\nsandbox,BR,marketting,USD,0.0688,2025-07-01,test\n`);
    writeJob('sandbox', 'marketing');
    expect(await main(['run', 'job.yaml', '--dry-run'])).toBe(2);
    expect(printed(console.error)).toContain(`${join(dir, 'rates.csv')}:2 at category: unknown category "marketting"`);
  });
});
