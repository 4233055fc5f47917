/**
 * What operating herald relies on, with the built CLI in a child process:
 * - SIGTERM mid-run: no new rows, sends in flight settle, the run is marked aborted (exit 1); the
 *   same run key then finishes it and nobody is messaged twice.
 * - The logs of a full run hold neither the access token nor any full phone number.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWarehouse } from '../src/warehouse/open.js';
import { acceptances, startCli, waitFor } from './support/cli-process.js';
import { FakeMeta } from './support/fake-meta.js';
import { jobFixture, type JobFixture } from './support/job-fixture.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('SIGTERM', () => {
  it('stops taking rows, settles what is in flight, and the same run key finishes the run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-sigterm-'));
    dirs.push(dir);
    const url = `duckdb:${join(dir, 'w.duckdb')}`;
    const fx: JobFixture = jobFixture({ rows: 600, warehouseUrl: url, rate: 200, concurrency: 16, latencyMs: 5 });
    dirs.push(fx.dir);
    await fx.loadSample(url);

    const first = startCli(['run', fx.jobFile, '--run-key', 'nightly-1'], { HERALD_CONFIG: fx.configFile });
    await waitFor(() => acceptances(fx.ledger).length >= 60, '60 acceptances', first.output);
    first.child.kill('SIGTERM');
    expect(await first.exited, first.output()).toBe(1);

    const wh = await openWarehouse(url);
    try {
      const [run] = await wh.query<{ run_id: string; status: string; error: string }>("SELECT run_id, status, error FROM herald.runs WHERE run_key = 'nightly-1'");
      expect(run).toMatchObject({ status: 'aborted' });
      expect(run!.error).toMatch(/stopped by a signal/);
      // Graceful: every send that started was settled; none is left unknown.
      const statuses = await wh.query<{ status: string; reason: string | null }>('SELECT status, reason FROM herald.sends WHERE run_id = $1', [run!.run_id]);
      expect(statuses.filter((s) => s.status === 'unknown')).toEqual([]);
      const accepted = statuses.filter((s) => s.status === 'accepted').length;
      expect(accepted).toBe(acceptances(fx.ledger).length);
      // It really stopped early: the rows it had read and not sent are pending, for the same run key.
      expect(statuses.filter((s) => s.status === 'pending').length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s.status === 'in_flight')).toEqual([]);
    } finally {
      await wh.close();
    }

    const second = startCli(['run', fx.jobFile, '--run-key', 'nightly-1', '--json'], { HERALD_CONFIG: fx.configFile });
    expect(await second.exited, second.output()).toBe(0);
    const summary = JSON.parse(second.output().trim().split('\n').pop()!) as { resumed: boolean; counts: { audience: number } };
    expect(summary).toMatchObject({ resumed: true, counts: { audience: 600 } });
    const recipients = acceptances(fx.ledger).map((a) => a.recipient);
    expect(new Set(recipients).size).toBe(recipients.length);
  });
});

describe('logs', () => {
  it('a full run through Meta logs neither the token nor a full phone number', async () => {
    const token = 'EAAGm0PX4ZCpsBA-not-a-real-token-7f3a9c';
    const fake = await FakeMeta.start({ goodToken: token, fates: {} });
    const dir = mkdtempSync(join(tmpdir(), 'herald-logs-'));
    dirs.push(dir);
    try {
      const phones = ['+12015550101', '+12015550102', '+12015550103'];
      writeFileSync(join(dir, 'herald.yaml'), `
warehouses: { default: { url: "duckdb:${join(dir, 'w.duckdb')}" } }
providers:
  meta: { base_url: "${fake.url}", graph_version: v24.0, access_token: "\${META_ACCESS_TOKEN}", waba_id: "" }
`);
      writeFileSync(join(dir, 'job.yaml'), `
name: log_check
source: { query: "SELECT * FROM (VALUES ${phones.map((p, i) => `('k${i}', '${p}', 'Name ${i}', 'yes')`).join(', ')}) t(k, phone, name, ok)" }
audience: { key: k, phone: phone, default_region: US, consent: ok }
message: { provider: meta, sender: "106540352242922", template: { name: hello, language: en_US }, body: [ { column: name } ] }
delivery: { rate_per_second: 10 }
`);
      const run = startCli(['run', join(dir, 'job.yaml'), '--json'], { HERALD_CONFIG: join(dir, 'herald.yaml'), META_ACCESS_TOKEN: token, HERALD_LOG_LEVEL: 'debug' });
      expect(await run.exited, run.output()).toBe(0);
      const output = run.output();
      expect(output).toContain('"level"'); // there were logs to read
      expect(output).not.toContain(token);
      for (const p of phones) {
        expect(output).not.toContain(p);
        expect(output).not.toContain(p.slice(1));
      }
      expect(fake.accepted).toHaveLength(3);
    } finally {
      await fake.close();
    }
  });
});
