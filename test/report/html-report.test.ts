/**
 * `herald report --format html` writes one self-contained file; a real headless Chromium (Debian's
 * `chromium`) opens it, renders it without errors, and shows the run's numbers. In CI Chromium
 * must be there (.ci/run installs it); elsewhere the browser part says it was skipped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { funnelHtml } from '../../src/report/html-report.js';

const CHROMIUM = process.env.HERALD_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM && process.env.CI) throw new Error('CI needs Chromium for the HTML report test: apt-get install chromium (see .ci/run)');
if (!CHROMIUM) console.warn('[herald tests] no Chromium found: the HTML report browser test is skipped (apt-get install chromium)');

const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

describe('HTML report', () => {
  let dir: string;
  let html: string;
  let runId: string;
  const startCwd = process.cwd();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-html-'));
    process.chdir(dir);
    const values = Array.from({ length: 12 }, (_, i) => `('k${i}', '${i === 11 ? 'garbage' : phone(i)}', '<b>Name ${i}</b>', 'yes')`).join(', ');
    writeFileSync('herald.yaml', `warehouses: { default: { url: "duckdb:${join(dir, 'w.duckdb')}" } }\nproviders: { sandbox: { latency_ms: 0, max_event_delay_ms: 0, permanent_failure_ratio: 0, transient_failure_ratio: 0 } }\n`);
    writeFileSync('job.yaml', `
name: html_report
source: { query: "SELECT * FROM (VALUES ${values}) t(k, phone, name, ok)" }
audience: { key: k, phone: phone, default_region: US, consent: ok }
message: { provider: sandbox, sender: "1555", template: { name: hello, language: en_US }, body: [ { column: name } ] }
`);
    vi.stubEnv('HERALD_CONFIG', join(dir, 'herald.yaml'));
    vi.stubEnv('HERALD_LOG_LEVEL', 'silent');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(await main(['run', 'job.yaml', '--json'])).toBe(0);
    runId = (JSON.parse(String(log.mock.calls.at(-1)![0])) as { run_id: string }).run_id;
    expect(await main(['report', '--run', runId, '--format', 'html', '--output', 'report.html'])).toBe(0);
    html = readFileSync('report.html', 'utf8');
    vi.restoreAllMocks();
  });
  afterAll(() => {
    process.chdir(startCwd);
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is one self-contained file with the funnel and the reasons', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src="http|href="http/); // nothing fetched, nothing run
    expect(html).toContain(`run ${runId}`);
    expect(html).toContain('<tr><td>Audience</td><td class="n">12</td><td class="n"></td></tr>');
    expect(html).toContain('<tr><td>Accepted</td><td class="n">11</td><td class="n">91.7%</td></tr>');
    expect(html).toContain('<tr><td>rejected</td><td><code>invalid_phone</code></td><td class="n">1</td></tr>');
    expect(html).toContain('aria-label="funnel chart"');
  });

  it('escapes what comes from the data', () => {
    const out = funnelHtml([{ run_id: 'r1', job: '<script>x</script>', run_key: 'k"1', run_status: 'succeeded', dry_run: false, started_at: new Date(0), finished_at: null } as never], []);
    expect(out).not.toContain('<script>x</script>');
    expect(out).toContain('&#60;script&#62;x&#60;/script&#62;');
  });

  it.runIf(CHROMIUM !== undefined)('renders in headless Chromium without errors and shows the numbers', () => {
    const profile = mkdtempSync(join(tmpdir(), 'herald-chromium-'));
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--enable-logging=stderr', '--v=0'];
    try {
      const dom = spawnSync(CHROMIUM!, [...flags, '--dump-dom', `file://${join(dir, 'report.html')}`], { encoding: 'utf8', timeout: 60_000 });
      expect(dom.status, dom.stderr).toBe(0);
      expect(dom.stdout).toContain('<td class="n">12</td>');
      expect(dom.stdout).toContain(`run ${runId}`);
      expect(dom.stderr).not.toMatch(/Uncaught|CONSOLE\(\d+\).*(error|Error)/);
      const png = join(dir, 'report.png');
      execFileSync(CHROMIUM!, [...flags, `--screenshot=${png}`, '--window-size=1000,1400', `file://${join(dir, 'report.html')}`], { timeout: 60_000, stdio: 'ignore' });
      expect(statSync(png).size).toBeGreaterThan(10_000); // a page with content, not a blank one
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
