/**
 * Dispatch and run semantics with a scripted provider on a real (in-memory) DuckDB: each error
 * action's outcome, the in-flight bound, aborts that leave rows for a re-run, and run-key resume.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobSchema } from '../src/config/job.schema.js';
import type { LoadedJob } from '../src/config/load.js';
import { accepted, loadedJob, phone, ScriptedProvider } from './support/scripted-provider.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { silentLogger } from '../src/log.js';
import { runJob, type RunOptions } from '../src/pipeline/run-job.js';
import type { Provider } from '../src/providers/provider.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { EVENTS } from '../src/warehouse/tables.js';

describe('dispatch', () => {
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    wh = await DuckDbWarehouse.open(':memory:');
  });
  afterEach(() => wh.close());

  const run = (loaded: LoadedJob, provider: Provider, extra: Partial<RunOptions> = {}) =>
    runJob({ loaded, wh, provider, senders: new SenderRegistry(), logger: silentLogger, ...extra });

  const sends = (runId: string) => wh.query<{ row_key: string; status: string; reason: string | null; error_code: string | null; attempts: number; error_detail: string | null }>(
    'SELECT row_key, status, reason, error_code, attempts, error_detail FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [runId]);

  it('sends each rendered message once with the recipient, sender and parameters', async () => {
    const provider = new ScriptedProvider(accepted);
    const summary = await run(loadedJob(3), provider);
    expect(summary.counts.accepted).toBe(3);
    expect(provider.calls.map((c) => [c.recipient, c.sender, c.attempt, c.message])).toEqual([0, 1, 2].map((i) => [
      phone(i), '15550001234', 1, { template: { name: 'hello', language: 'en_US' }, body: [{ kind: 'text', text: `Name ${i}` }], buttons: [] },
    ]));
    const rows = await wh.query<{ provider_message_id: string; send_id: string }>('SELECT provider_message_id, send_id FROM herald.sends');
    for (const r of rows) expect(r.provider_message_id).toBe(`wamid.${r.send_id}`);
  });

  it('retries transient errors with the same send id and ends accepted', async () => {
    const provider = new ScriptedProvider((msg) => (msg.attempt < 3 ? { kind: 'error', action: 'retry', code: '131000', detail: 'Something went wrong' } : accepted(msg)));
    const summary = await run(loadedJob(2, {}), provider, {});
    expect(summary.counts.accepted).toBe(2);
    expect((await sends(summary.run_id)).map((s) => s.attempts)).toEqual([3, 3]);
    const ids = new Set(provider.calls.map((c) => c.sendId));
    expect(ids.size).toBe(2);
  });

  it('gives up on a transient error after the attempts limit: pending for the next run, not failed', async () => {
    const provider = new ScriptedProvider(() => ({ kind: 'error', action: 'retry', code: '131000', detail: 'Something went wrong', retryAfterMs: 1 }));
    const summary = await run(loadedJob(1), provider);
    expect(await sends(summary.run_id)).toEqual([{
      row_key: 'k0', status: 'pending', reason: 'provider:131000', error_code: '131000', attempts: 5, error_detail: 'Something went wrong (gave up after 5 attempts in this run)',
    }]);
    const next = await run(loadedJob(1), new ScriptedProvider(accepted));
    expect(next.counts.accepted).toBe(1);
  });

  it('records permanent failures per row and keeps going', async () => {
    const provider = new ScriptedProvider((msg, i) => (i === 1 ? { kind: 'error', action: 'permanent', code: '131026', detail: 'Message undeliverable' } : accepted(msg)));
    const summary = await run(loadedJob(4), provider);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts).toMatchObject({ accepted: 3, failed: 1, audience: 4 });
  });

  it('defers with a not-before time', async () => {
    const provider = new ScriptedProvider(() => ({ kind: 'error', action: 'defer', code: '131049', detail: 'ecosystem limit' }));
    const summary = await run(loadedJob(1), provider);
    const [row] = await sends(summary.run_id);
    expect(row).toMatchObject({ status: 'deferred', reason: 'provider:131049', error_detail: 'ecosystem limit' });
    const [{ not_before: notBefore }] = await wh.query<{ not_before: Date }>('SELECT not_before FROM herald.sends WHERE run_id = $1', [summary.run_id]) as [{ not_before: Date }];
    expect(Math.abs(notBefore.getTime() - (Date.now() + 86_400_000))).toBeLessThan(60_000);
    // The next run leaves it alone until then.
    const next = new ScriptedProvider(accepted);
    const again = await run(loadedJob(1), next);
    expect((await sends(again.run_id)).map((s) => `${s.status}/${s.reason}`)).toEqual(['deferred/not_before']);
    expect(next.calls).toHaveLength(0);
  });

  it('an unknown outcome is recorded as unknown and never resent', async () => {
    const provider = new ScriptedProvider(() => ({ kind: 'unknown', detail: 'timed out after the request was written' }));
    const first = await run(loadedJob(2), provider);
    expect(first.counts.unknown).toBe(2);
    const again = await run(loadedJob(2), provider);
    expect((await sends(again.run_id)).map((s) => `${s.status}/${s.reason}`)).toEqual(['duplicate/earlier_outcome_unknown', 'duplicate/earlier_outcome_unknown']);
    expect(provider.calls).toHaveLength(2);
    const resend = await run(loadedJob(2), new ScriptedProvider(accepted), { resendUnknown: true });
    expect(resend.counts.accepted).toBe(2);
  });

  it('an auth error aborts the run (exit 1) and leaves the refused row and the rest pending, never failed', async () => {
    const provider = new ScriptedProvider((msg, i) => (i === 5 ? { kind: 'error', action: 'abort', code: '190', detail: 'Invalid OAuth access token' } : accepted(msg)));
    const loaded = loadedJob(40, { concurrency: 1 });
    const first = await run(loaded, provider, { runKey: 'k1' });
    expect(first.status).toBe('aborted');
    expect(first.exit_code).toBe(1);
    expect(first.error).toMatch(/provider:190: Invalid OAuth access token/);
    expect(first.counts).toMatchObject({ accepted: 5, failed: 0, pending: 35, audience: 40 });
    expect(provider.calls).toHaveLength(6); // nothing was sent after the abort
    const refused = (await sends(first.run_id)).find((s) => s.row_key === 'k5');
    expect(refused).toMatchObject({ status: 'pending', reason: 'run_stopped', error_code: '190' });

    // Resuming the same run key sends the rest and nothing twice.
    const healthy = new ScriptedProvider(accepted);
    const resumed = await run(loaded, healthy, { runKey: 'k1' });
    expect(resumed.run_id).toBe(first.run_id);
    expect(resumed.resumed).toBe(true);
    expect(resumed.status).toBe('succeeded');
    expect(resumed.counts).toMatchObject({ audience: 40, accepted: 40, failed: 0, pending: 0 });
    expect(healthy.calls).toHaveLength(35);
    // Call 5 was refused (nothing sent); every other call reached a different recipient.
    const everyone = [...provider.calls.filter((_, i) => i !== 5), ...healthy.calls].map((c) => c.recipient);
    expect(new Set(everyone).size).toBe(everyone.length);
    // The same key once more: the finished run comes back, nothing is sent.
    const third = new ScriptedProvider(accepted);
    const done = await run(loaded, third, { runKey: 'k1' });
    expect(done).toMatchObject({ run_id: first.run_id, already_finished: true, status: 'succeeded' });
    expect(third.calls).toHaveLength(0);
  });

  it('stops after a few identical template errors: the rest would fail the same way', async () => {
    const provider = new ScriptedProvider(() => ({ kind: 'error', action: 'fix_request', code: '132000', detail: 'Number of parameters does not match' }));
    const summary = await run(loadedJob(30, { concurrency: 1 }), provider);
    expect(summary.status).toBe('aborted');
    expect(summary.error).toMatch(/3 rows failed with provider:132000/);
    expect(provider.calls).toHaveLength(3);
  });

  it('never has more sends in flight than the concurrency', async () => {
    const provider = new ScriptedProvider(async (msg) => {
      await new Promise((r) => setTimeout(r, 5));
      return accepted(msg);
    });
    await run(loadedJob(60, { concurrency: 3 }), provider);
    expect(provider.maxInFlight).toBe(3);
  });

  it('exits 3 when the failure ratio is above max_failure_ratio', async () => {
    const provider = new ScriptedProvider((msg, i) => (i % 2 === 0 ? { kind: 'error', action: 'permanent', code: '131026', detail: 'x' } : accepted(msg)));
    const summary = await run(loadedJob(10, { max_failure_ratio: 0.2 }), provider);
    expect(summary).toMatchObject({ status: 'succeeded', exit_code: 3, failure_ratio: 0.5 });
  });

  it('a stop signal takes no new rows and leaves the run resumable', async () => {
    const stop = new AbortController();
    const provider = new ScriptedProvider((msg, i) => {
      if (i === 9) stop.abort();
      return accepted(msg);
    });
    const loaded = loadedJob(50, { concurrency: 1 });
    const first = await run(loaded, provider, { runKey: 'sig', stop: stop.signal });
    expect(first.status).toBe('aborted');
    expect(first.counts.accepted).toBe(10);
    const rest = new ScriptedProvider(accepted);
    const second = await run(loaded, rest, { runKey: 'sig' });
    expect(second.counts).toMatchObject({ audience: 50, accepted: 50 });
    expect(rest.calls).toHaveLength(40);
  });

  it('a throughput error slows the sender down by a step and the send is retried', async () => {
    const senders = new SenderRegistry();
    const provider = new ScriptedProvider((msg, i) => (i === 0 ? { kind: 'error', action: 'slow_down', code: '130429', detail: 'Rate limit hit', retryAfterMs: 1 } : accepted(msg)));
    const summary = await runJob({ loaded: loadedJob(3), wh, provider, senders, logger: silentLogger });
    expect(summary.counts.accepted).toBe(3);
    expect(senders.limiterOf('sandbox', '15550001234')?.currentRate).toBe(950);
  });

  it('131057 pauses the whole sender before anything else starts', async () => {
    const provider = new ScriptedProvider((msg, i) => (i === 0 ? { kind: 'error', action: 'retry', code: '131057', detail: 'Account in maintenance mode', pauseSenderMs: 300, retryAfterMs: 1 } : accepted(msg)));
    const started = Date.now();
    const summary = await run(loadedJob(2, { concurrency: 1 }), provider);
    expect(summary.counts.accepted).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('a pair-rate error waits for that recipient only; the others go on', async () => {
    const order: string[] = [];
    const provider = new ScriptedProvider((msg) => {
      if (msg.recipient === phone(0) && msg.attempt === 1) return { kind: 'error', action: 'retry_recipient_later', code: '131056', detail: 'pair rate limit' };
      order.push(msg.recipient);
      return accepted(msg);
    });
    const summary = await run(loadedJob(4, { concurrency: 2 }), provider);
    expect(summary.counts.accepted).toBe(4);
    expect(order.at(-1)).toBe(phone(0)); // waited 4^0 = 1 s while the other three were sent
    expect((await sends(summary.run_id))[0]!.attempts).toBe(2);
  });

  it('refuses a second concurrent run of the same job', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = new ScriptedProvider(async (msg) => {
      await gate;
      return accepted(msg);
    });
    const first = run(loadedJob(2), slow);
    await new Promise((r) => setTimeout(r, 50));
    await expect(run(loadedJob(2), new ScriptedProvider(accepted))).rejects.toThrow(/already running/);
    release();
    expect((await first).status).toBe('succeeded');
  });
});

describe('free-form text', () => {
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    wh = await DuckDbWarehouse.open(':memory:');
  });
  afterEach(() => wh.close());

  it('goes only to recipients who wrote in the last 24 h; the rest are rejected outside_window', async () => {
    const now = Date.now();
    const inbound = (i: number, hoursAgo: number) => ({
      event_id: `in${i}`, provider: 'meta', event_type: 'inbound', provider_message_id: `wamid.in${i}`, recipient: phone(i),
      occurred_at: new Date(now - hoursAgo * 3_600_000), received_at: new Date(), error_code: null, error_detail: null, pricing_category: null, payload: {},
    });
    await wh.insert(EVENTS, [inbound(0, 1), inbound(1, 23.5), inbound(2, 25)]);
    const base = loadedJob(4);
    const job = JobSchema.parse({ ...base.job, message: { provider: 'sandbox', sender: '15550001234', text: { value: 'Your parcel left the warehouse.\nTrack it in the app.' } } });
    const provider = new ScriptedProvider(accepted);
    const summary = await runJob({ loaded: { ...base, job }, wh, provider, senders: new SenderRegistry(), logger: silentLogger });
    expect(provider.calls.map((c) => [c.recipient, c.message])).toEqual([0, 1].map((i) => [phone(i), { text: 'Your parcel left the warehouse.\nTrack it in the app.', body: [], buttons: [] }]));
    const rows = await wh.query<{ row_key: string; status: string; reason: string | null; template: string | null }>(
      'SELECT row_key, status, reason, template FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [summary.run_id]);
    expect(rows).toEqual([
      { row_key: 'k0', status: 'accepted', reason: null, template: null },
      { row_key: 'k1', status: 'accepted', reason: null, template: null },
      { row_key: 'k2', status: 'rejected', reason: 'outside_window', template: null },
      { row_key: 'k3', status: 'rejected', reason: 'outside_window', template: null },
    ]);
  });

  it('a job is either a template or text', () => {
    const base = loadedJob(1).job;
    expect(() => JobSchema.parse({ ...base, message: { ...base.message, text: { value: 'hi' } } })).toThrow(/exactly one of .*template.* or .*text/);
  });
});

describe('default concurrency', () => {
  it('is one second of the rate, between 16 and 1,000', async () => {
    const { defaultConcurrency } = await import('../src/pipeline/dispatch.js');
    expect([5, 80, 200, 1000, 2500, 100_000].map(defaultConcurrency)).toEqual([16, 80, 200, 1000, 1000, 1000]);
  });
});
