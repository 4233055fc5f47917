/**
 * `herald report --format html` writes one self-contained file (a run's, and a job's with its
 * failed rows CSV beside it); a real headless Chromium (Debian's `chromium`) opens both, renders
 * them without errors, and shows the numbers. In CI Chromium must be there (.ci/run installs it);
 * elsewhere the browser part says it was skipped, and the structural check (html-check.ts) stands in.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { funnelHtml } from '../../src/report/html-report.js';
import { checkHtml } from './html-check.js';

const CHROMIUM = process.env.HERALD_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM && process.env.CI) throw new Error('CI needs Chromium for the HTML report test: apt-get install chromium (see .ci/run)');
if (!CHROMIUM) console.warn('[herald tests] no Chromium found: the HTML report browser test is skipped (apt-get install chromium)');

const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

describe('HTML report', () => {
  let dir: string;
  let html: string;
  let jobHtml: string;
  let runId: string;
  let rerunId: string;
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
    // A re-run: every sendable row is now a duplicate, nothing is attempted.
    expect(await main(['run', 'job.yaml', '--json'])).toBe(0);
    rerunId = (JSON.parse(String(log.mock.calls.at(-1)![0])) as { run_id: string }).run_id;
    expect(await main(['report', '--job', 'html_report', '--format', 'html', '--output', 'job.html'])).toBe(0);
    jobHtml = readFileSync('job.html', 'utf8');
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
    expect(html).toContain('<tr><td>rejected</td><td><code>invalid_phone</code></td><td class="n">1</td><td></td><td>the phone column is not a valid number for its region</td>');
    expect(html).toContain('aria-label="funnel chart"');
    // 12 rows: 11 accepted (attempted), 1 rejected (the sandbox may fail a few accepted ones later, by webhook).
    expect(html).toContain('<p class="headline">11 sends attempted in this run (handed to the provider: accepted, failed, deferred by it, or outcome unknown); 1 of 12 audience rows was not attempted.');
    expect(checkHtml(html)).toEqual([]);
  });

  it('the job report: runs over time, latency, splits, and the failed rows CSV next to it', () => {
    expect(checkHtml(jobHtml)).toEqual([]);
    expect(jobHtml).toContain('aria-label="runs over time"');
    expect(jobHtml).toContain(`<a href="#run-${rerunId}">`);
    expect(jobHtml).toContain('Nothing was attempted in this run: its 12 audience rows were all settled before sending');
    // Every row is a US number of template hello@en_US, except the garbage one (no country).
    expect(jobHtml).toMatch(/<td>hello@en_US<\/td><td class="n">24<\/td><td class="n">11<\/td>/);
    expect(jobHtml).toMatch(/<td>US<\/td><td class="n">22<\/td><td class="n">11<\/td>/);
    // The rejected `garbage` row of each run, and run 1's failures: the sandbox fails ~3% of sends by
    // a status webhook (131026), keyed on the random run id, so their number comes from the funnel.
    const csv = readFileSync(join(dir, 'job.failed.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('run_id,send_id,row_key,recipient,country,template,status,reason,failed_by,error_code,error_detail,at,meaning,action');
    const lines = csv.slice(1).map((l) => l.split(','));
    const pick = (l: string[]) => [l[0], ...l.slice(2, 9)].join(',');
    expect(lines.filter((l) => l[6] === 'rejected').map(pick).sort()).toEqual([
      `${runId},k11,,,hello,rejected,invalid_phone,`, `${rerunId},k11,,,hello,rejected,invalid_phone,`,
    ].sort());
    const failed = lines.filter((l) => l[6] === 'failed');
    expect(failed.map((l) => [l[0], l[4], l[7], l[8], l[9]].join(','))).toEqual(failed.map(() => `${runId},US,provider:131026,webhook,131026`));
    const funnelFailed = /<tr class="failed"><td>Failed<\/td><td class="n">(\d+)<\/td>/.exec(jobHtml.slice(jobHtml.indexOf(`id="run-${runId}"`)));
    expect(failed.length).toBe(Number(funnelFailed?.[1] ?? 0));
    expect(jobHtml).toContain(`<a href="job.failed.csv" download>job.failed.csv</a> (${lines.length} rows`);
  });

  it('escapes what comes from the data', () => {
    const out = funnelHtml([{ run_id: 'r1', job: '<script>x</script>', run_key: 'k"1', run_status: 'succeeded', dry_run: false, started_at: new Date(0), finished_at: null } as never], []);
    expect(out).not.toContain('<script>x</script>');
    expect(out).toContain('&#60;script&#62;x&#60;/script&#62;');
  });

  it.runIf(CHROMIUM !== undefined)('renders in headless Chromium without errors and shows the numbers', () => {
    browse('report.html', ['<td class="n">12</td>', `run ${runId}`]);
    browse('job.html', ['aria-label="runs over time"', `run ${rerunId}`, 'job.failed.csv']);
  });

  /** Opens the file in headless Chromium: the DOM it built holds each text, nothing failed, and a screenshot has content. */
  function browse(file: string, texts: string[]): void {
    const profile = mkdtempSync(join(tmpdir(), 'herald-chromium-'));
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--enable-logging=stderr', '--v=0'];
    try {
      const dom = spawnSync(CHROMIUM!, [...flags, '--dump-dom', `file://${join(dir, file)}`], { encoding: 'utf8', timeout: 60_000 });
      expect(dom.status, dom.stderr).toBe(0);
      for (const text of texts) expect(dom.stdout).toContain(text);
      expect(dom.stderr).not.toMatch(/Uncaught|CONSOLE\(\d+\).*(error|Error)/);
      const png = join(dir, `${file}.png`);
      execFileSync(CHROMIUM!, [...flags, `--screenshot=${png}`, '--window-size=1000,1400', `file://${join(dir, file)}`], { timeout: 60_000, stdio: 'ignore' });
      expect(statSync(png).size).toBeGreaterThan(10_000); // a page with content, not a blank one
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  }
});
