/**
 * Template pre-flight as a user meets it: `herald validate`, `herald run` and `herald templates
 * list` with provider meta against a local server that serves Meta's template listing.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';

const TEMPLATES = {
  data: [
    {
      name: 'welcome_back', language: 'ja', status: 'APPROVED', category: 'MARKETING', parameter_format: 'POSITIONAL',
      components: [
        { type: 'BODY', text: '{{1}}さん、{{2}}ポイントがあります' },
        { type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Open', url: 'https://example.com/{{1}}' }] },
      ],
    },
  ],
  paging: { cursors: { before: 'a', after: 'b' } },
};

let server: Server;
let requests: string[] = [];
let dir: string;
const startCwd = process.cwd();

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url?.split('?')[0]}`);
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && req.url?.startsWith('/v24.0/WABA1/message_templates')) return res.end(JSON.stringify(TEMPLATES));
    res.statusCode = 500;
    res.end(JSON.stringify({ error: { message: 'unexpected in this test', code: 1 } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  requests = [];
  dir = mkdtempSync(join(tmpdir(), 'herald-preflight-'));
  process.chdir(dir);
  const { port } = server.address() as AddressInfo;
  writeFileSync('herald.yaml', `
warehouses: { default: { url: "duckdb:${join(dir, 'w.duckdb')}" } }
providers:
  meta: { base_url: "http://127.0.0.1:${port}", graph_version: v24.0, access_token: TEST_TOKEN, waba_id: WABA1 }
`);
  vi.stubEnv('HERALD_CONFIG', join(dir, 'herald.yaml'));
  vi.stubEnv('HERALD_CACHE_DIR', join(dir, 'cache'));
  vi.stubEnv('HERALD_LOG_LEVEL', 'silent');
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
});
afterEach(() => {
  process.chdir(startCwd);
  rmSync(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

function writeJob(body: string, buttons: string): void {
  writeFileSync('job.yaml', `
name: pf_job
source: { query: "SELECT 'k1' AS k, '+12015550123' AS p, 'Aki' AS name, 10 AS pts, 'c/1' AS path, true AS ok" }
audience: { key: k, phone: p, default_region: US, consent: ok }
message:
  provider: meta
  sender: "PN1"
  template: { name: welcome_back, language: ja }
  body: ${body}
  buttons: ${buttons}
`);
}

const printed = (spy: unknown) => (spy as { mock: { calls: unknown[][] } }).mock.calls.map((c) => c.join(' ')).join('\n');

describe('template pre-flight from the CLI', () => {
  it('validate exits 2 and shows each difference; run exits 2 before any send', async () => {
    writeJob('[ { column: name } ]', '[]');
    expect(await main(['validate', 'job.yaml'])).toBe(2);
    const err = printed(console.error);
    expect(err).toContain('job.yaml at message.body: the job gives 1 body parameter, template "welcome_back" takes 2');
    expect(err).toContain('job.yaml at message.buttons: the template\'s URL button 0 needs a url_suffix');

    expect(await main(['run', 'job.yaml'])).toBe(2);
    expect(requests.filter((r) => r.startsWith('POST'))).toEqual([]);
    // validate may use a cached listing; run reads it again, since a template paused or
    // re-categorised since then must stop the run before its first send.
    expect(requests).toEqual(['GET /v24.0/WABA1/message_templates', 'GET /v24.0/WABA1/message_templates']);
  });

  it('validate passes a mapping that fits', async () => {
    writeJob('[ { column: name }, { column: pts, type: number } ]', '[ { index: 0, url_suffix: { column: path } } ]');
    expect(await main(['validate', 'job.yaml'])).toBe(0);
    expect(printed(console.log)).toContain('ok  job.yaml');
  });

  it('templates list prints the approved templates, from the cache the second time', async () => {
    expect(await main(['templates', 'list', '--provider', 'meta'])).toBe(0);
    expect(printed(console.log)).toMatch(/welcome_back\s+ja\s+APPROVED\s+MARKETING\s+body 2 buttons 0:URL\*/);
    expect(await main(['templates', 'list', '--provider', 'meta', '--json'])).toBe(0);
    expect(requests).toHaveLength(1);
    expect(await main(['templates', 'list', '--provider', 'meta', '--refresh'])).toBe(0);
    expect(requests).toHaveLength(2);
    expect(await main(['templates', 'list', '--provider', 'ada'])).toBe(2);
  });
});
