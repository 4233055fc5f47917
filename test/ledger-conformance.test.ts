/**
 * The ledger's promises, the same suite on DuckDB and on PostgreSQL: every eligible recipient
 * exactly once through stops, aborts, outages of the provider, unknown outcomes, opt-outs and
 * permanent failures (pipeline/land.ts has the rules). A scripted provider records every call,
 * so "messaged twice" is counted from what reached the provider, not from herald's tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerMismatchError } from '../src/errors.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { silentLogger } from '../src/log.js';
import { reconcileUnknowns } from '../src/pipeline/land.js';
import { runJob, type RunOptions } from '../src/pipeline/run-job.js';
import type { SendOutcome } from '../src/providers/provider.js';
import { EVENTS, SENDS, SUPPRESSIONS } from '../src/warehouse/tables.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { ENGINES } from './helpers/engines.js';
import { freshPgUrl } from './helpers/pg.js';
import { PostgresWarehouse } from '../src/warehouse/postgres.warehouse.js';
import { CuttableProxy, targetOf, throughProxy } from './support/cuttable-proxy.js';
import { accepted, loadedJob, phone, ScriptedProvider } from './support/scripted-provider.js';

const networkDown: SendOutcome = { kind: 'error', action: 'retry', code: 'network', detail: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9', retryAfterMs: 20 };

describe.each(ENGINES)('the ledger on $name', (engine) => {
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ wh, cleanup } = await engine.open()));
  afterAll(async () => {
    await wh.close();
    await cleanup();
  });

  let jobs = 0;
  /** Each test its own job, so earlier tests' sends never count as its history. */
  const freshJob = (rows: number, delivery: Record<string, unknown> = {}) => loadedJob(rows, delivery, `ledger_${++jobs}`);
  const run = (loaded: ReturnType<typeof loadedJob>, provider: ScriptedProvider, extra: Partial<RunOptions> = {}) =>
    runJob({ loaded, wh, provider, senders: new SenderRegistry(), logger: silentLogger, ...extra });
  const fates = async (runId: string) => (await wh.query<{ row_key: string; status: string; reason: string | null }>(
    'SELECT row_key, status, reason FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [runId])).map((r) => `${r.row_key} ${r.status}/${r.reason ?? ''}`);

  it('an update that finds no row stops with LedgerMismatchError and writes nothing of its batch', async () => {
    const row = { send_id: 'mismatch-1', run_id: 'r', job: 'j', row_key: 'k', recipient: null, idempotency_key: 'i', provider: 'sandbox', sender: 's',
      template: null, language: null, variables: null, status: 'pending', reason: null, error_code: null, error_detail: null, provider_message_id: null,
      attempts: 0, created_at: new Date(), sent_at: null, not_before: null };
    await expect(wh.write([
      { insert: SENDS, rows: [row] },
      { update: SENDS, rows: [{ ...row, send_id: 'never-inserted', status: 'accepted' }], columns: ['status'] },
    ])).rejects.toBeInstanceOf(LedgerMismatchError);
    expect(await wh.query("SELECT send_id FROM herald.sends WHERE send_id = 'mismatch-1'")).toEqual([]);
  });

  it('stopped and resumed by run key, then run again: every recipient messaged exactly once', async () => {
    const loaded = freshJob(60, { concurrency: 4 });
    const stop = new AbortController();
    const first = new ScriptedProvider((msg, i) => {
      if (i === 12) stop.abort();
      return accepted(msg);
    });
    const stopped = await run(loaded, first, { runKey: 'k', stop: stop.signal });
    expect(stopped).toMatchObject({ status: 'aborted', exit_code: 1 });
    expect(stopped.counts.unknown + stopped.counts.in_flight).toBe(0);
    expect(stopped.counts.accepted + stopped.counts.pending).toBe(60);

    const second = new ScriptedProvider(accepted);
    const resumed = await run(loaded, second, { runKey: 'k' });
    expect(resumed).toMatchObject({ run_id: stopped.run_id, resumed: true, status: 'succeeded' });
    expect(resumed.counts).toMatchObject({ audience: 60, accepted: 60, pending: 0 });

    const third = new ScriptedProvider(accepted);
    const again = await run(loaded, third);
    expect(again.counts).toMatchObject({ accepted: 0, duplicate: 60 });
    const all = recipients(first, second, third);
    expect(all).toHaveLength(60);
    expect(new Set(all).size).toBe(60);
  });

  it('rows waiting for a rate slot when the run stops stay pending, never unknown', async () => {
    const loaded = freshJob(30, { rate_per_second: 5, concurrency: 20 });
    const stop = new AbortController();
    const provider = new ScriptedProvider((msg, i) => {
      if (i === 2) stop.abort();
      return accepted(msg);
    });
    const summary = await run(loaded, provider, { stop: stop.signal });
    expect(summary.counts).toMatchObject({ accepted: provider.calls.length, unknown: 0, in_flight: 0, pending: 30 - provider.calls.length });
    expect(provider.calls.length).toBeLessThanOrEqual(5);
  });

  it('an auth error aborts with the rows pending; the same run key sends them, nobody twice', async () => {
    const loaded = freshJob(20, { concurrency: 1 });
    const expired = new ScriptedProvider((msg, i) => (i === 3 ? { kind: 'error', action: 'abort', code: '190', detail: 'Invalid OAuth access token' } : accepted(msg)));
    const first = await run(loaded, expired, { runKey: 'auth' });
    expect(first).toMatchObject({ status: 'aborted', exit_code: 1 });
    expect(first.counts).toMatchObject({ accepted: 3, failed: 0, pending: 17 });
    const healthy = new ScriptedProvider(accepted);
    const resumed = await run(loaded, healthy, { runKey: 'auth' });
    expect(resumed.counts).toMatchObject({ accepted: 20, pending: 0, failed: 0 });
    const reached = [...expired.calls.filter((_, i) => i !== 3), ...healthy.calls].map((c) => c.recipient);
    expect(new Set(reached).size).toBe(20);
    expect(reached).toHaveLength(20);
  });

  it('a provider that cannot be reached trips the circuit breaker: exit 1, rows pending, not failed', async () => {
    const loaded = freshJob(200, { concurrency: 8 });
    const down = new ScriptedProvider(() => networkDown);
    const first = await run(loaded, down, { runKey: 'outage' });
    expect(first).toMatchObject({ status: 'aborted', exit_code: 1 });
    expect(first.error).toMatch(/^the provider is not answering: 20 transient failures in a row on distinct rows within 30 s/);
    expect(first.counts).toMatchObject({ failed: 0, accepted: 0, unknown: 0, pending: 200 });
    // It stopped after about 20 rows (each retried at most 5 times), not after every row.
    expect(new Set(down.calls.map((c) => c.recipient)).size).toBeLessThanOrEqual(20 + 8);
    const back = new ScriptedProvider(accepted);
    expect((await run(loaded, back, { runKey: 'outage' })).counts).toMatchObject({ accepted: 200, pending: 0 });
  });

  it('a synchronous opt-out (131050) lands its suppression with the settlement; no later run contacts them', async () => {
    const loaded = freshJob(3);
    const provider = new ScriptedProvider((msg) => (msg.recipient === phone(1)
      ? { kind: 'error', action: 'permanent', code: '131050', detail: 'User has stopped marketing messages', optedOut: true }
      : accepted(msg)));
    const first = await run(loaded, provider);
    expect(await fates(first.run_id)).toEqual(['k0 accepted/', 'k1 failed/provider:131050', 'k2 accepted/']);
    expect(await wh.query('SELECT recipient, reason FROM herald.suppressions WHERE recipient = $1', [phone(1)]))
      .toEqual([{ recipient: phone(1), reason: 'opted_out:provider:131050' }]);
    // Another job, too: a suppression is the recipient's, not the job's.
    const other = new ScriptedProvider(accepted);
    const elsewhere = await run(freshJob(3), other);
    expect(await fates(elsewhere.run_id)).toEqual(['k0 accepted/', 'k1 suppressed/opted_out', 'k2 accepted/']);
    expect(recipients(other)).not.toContain(phone(1));
    await wh.query('DELETE FROM herald.suppressions WHERE recipient = $1', [phone(1)]); // the other tests' audience
  });

  it('a permanent failure is not tried again for retry_failed_after: a re-run exits 0', async () => {
    const loaded = freshJob(4, { retry_failed_after: '1h', max_failure_ratio: 0.1 });
    const provider = new ScriptedProvider((msg) => (msg.recipient === phone(2) ? { kind: 'error', action: 'permanent', code: '131026', detail: 'Message undeliverable' } : accepted(msg)));
    const first = await run(loaded, provider);
    expect(first).toMatchObject({ exit_code: 3, failure_ratio: 0.25 });
    const second = new ScriptedProvider(accepted);
    const rerun = await run(loaded, second);
    expect(rerun).toMatchObject({ exit_code: 0, failure_ratio: 0 });
    expect(await fates(rerun.run_id)).toEqual(['k0 duplicate/already_sent', 'k1 duplicate/already_sent', 'k2 duplicate/failed_earlier', 'k3 duplicate/already_sent']);
    expect(second.calls).toHaveLength(0);
    // An hour later the job tries the recipient again.
    const later = new ScriptedProvider(accepted);
    await run(loaded, later, { now: () => new Date(Date.now() + 3_601_000) });
    expect(recipients(later)).toEqual([phone(2)]);
  });

  it('a refused value fails its row only; the run goes on', async () => {
    const provider = new ScriptedProvider((msg) => (msg.recipient === phone(0)
      ? { kind: 'error', action: 'invalid_row', code: '131009', detail: 'Parameter value is not valid' }
      : accepted(msg)));
    const summary = await run(freshJob(6, { concurrency: 1 }), provider);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts).toMatchObject({ failed: 1, accepted: 5 });
  });

  it('another run\'s send still in flight blocks its recipient, as an unknown one does', async () => {
    const loaded = freshJob(3, { concurrency: 1 });
    const first = await run(loaded, new ScriptedProvider(accepted));
    // As a part of another run that lost its lock leaves it while it settles, or a dead part until it is resumed.
    await wh.query("UPDATE herald.sends SET status = 'in_flight' WHERE run_id = $1 AND row_key = 'k0'", [first.run_id]);
    await wh.query("UPDATE herald.sends SET status = 'pending' WHERE run_id = $1 AND row_key = 'k1'", [first.run_id]);
    const next = new ScriptedProvider(accepted);
    await run(loaded, next);
    expect(next.calls.map((c) => c.recipient)).toEqual([phone(1)]);
  });

  it('a run resumed by its key never sends again its own rows left in flight: they are unknown', async () => {
    const loaded = freshJob(3, { concurrency: 1 });
    const first = await run(loaded, new ScriptedProvider(accepted), { runKey: 'lost-answer' });
    // The run stopped (aborted) after k0's request went out and before its answer was written (the
    // warehouse went away), with k1 never sent.
    await wh.query("UPDATE herald.sends SET status = 'in_flight', provider_message_id = NULL WHERE run_id = $1 AND row_key = 'k0'", [first.run_id]);
    await wh.query("UPDATE herald.sends SET status = 'pending' WHERE run_id = $1 AND row_key = 'k1'", [first.run_id]);
    await wh.query("UPDATE herald.runs SET status = 'aborted' WHERE run_id = $1", [first.run_id]);
    const resumed = new ScriptedProvider(accepted);
    const again = await run(loaded, resumed, { runKey: 'lost-answer' });
    expect(again.run_id).toBe(first.run_id);
    expect(resumed.calls.map((c) => c.recipient)).toEqual([phone(1)]);
    expect(await fates(first.run_id)).toEqual(['k0 unknown/outcome_unknown', 'k1 accepted/', 'k2 accepted/']);
  });

  it('a part of a run settles only its own recipients\' unknowns', async () => {
    const loaded = freshJob(3, { concurrency: 1 });
    const first = await run(loaded, new ScriptedProvider(() => ({ kind: 'unknown', detail: 'UND_ERR_HEADERS_TIMEOUT after the request was written' })));
    const rows = await wh.query<{ row_key: string; send_id: string }>('SELECT row_key, send_id FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [first.run_id]);
    await wh.insert(EVENTS, rows.map((r, i) => ({
      event_id: `part-${first.run_id}-${i}`, provider: 'sandbox', event_type: 'delivered', provider_message_id: `wamid.part${i}`, recipient: null,
      occurred_at: new Date(), received_at: new Date(), error_code: null, error_detail: null, pricing_category: null, payload: {}, send_id: r.send_id,
    })));
    const mine = (send: { recipient: string | null }) => send.recipient === phone(0);
    expect(await reconcileUnknowns(wh, loaded.job, new Date(), mine)).toEqual({ settled: 1, released: 0 });
    expect(await fates(first.run_id)).toEqual(['k0 accepted/settled_by_webhook', 'k1 unknown/outcome_unknown', 'k2 unknown/outcome_unknown']);
    expect(await reconcileUnknowns(wh, loaded.job, new Date())).toEqual({ settled: 2, released: 0 });
  });

  it('unknown outcomes are settled by webhooks carrying the send id; a send no webhook ever mentioned is sent by the next run', async () => {
    const loaded = freshJob(4, { unknown_resend_after: '15m', concurrency: 1 });
    const timeouts = new ScriptedProvider((msg) => (msg.recipient === phone(3) ? accepted(msg) : { kind: 'unknown', detail: 'UND_ERR_HEADERS_TIMEOUT after the request was written' }));
    const first = await run(loaded, timeouts);
    expect(first.counts).toMatchObject({ unknown: 3, accepted: 1 });
    const ids = Object.fromEntries((await wh.query<{ row_key: string; send_id: string; provider_message_id: string | null }>(
      'SELECT row_key, send_id, provider_message_id FROM herald.sends WHERE run_id = $1', [first.run_id])).map((r) => [r.row_key, r]));
    const event = (id: string, type: string, sendId: string | null, messageId: string, code: string | null = null) => ({
      event_id: id, provider: 'sandbox', event_type: type, provider_message_id: messageId, recipient: null, occurred_at: new Date(), received_at: new Date(),
      error_code: code, error_detail: code ? 'Message undeliverable' : null, pricing_category: null, payload: {}, send_id: sendId,
    });
    await wh.insert(EVENTS, [
      event('e0', 'delivered', ids.k0!.send_id, 'wamid.late0'), // k0 was accepted after all
      event('e1', 'failed', ids.k1!.send_id, 'wamid.late1', '131026'), // k1 was taken, then failed
      event('e3', 'sent', ids.k3!.send_id, ids.k3!.provider_message_id!), // k3, sent after k2, got its webhook: they flow
    ]);
    // Within unknown_resend_after, k2 may still be on its way: it stays unknown and is not resent.
    const soon = new ScriptedProvider(accepted);
    await run(loaded, soon);
    expect(soon.calls).toHaveLength(0);
    expect(await fates(first.run_id)).toEqual(['k0 accepted/settled_by_webhook', 'k1 failed/provider:131026', 'k2 unknown/outcome_unknown', 'k3 accepted/']);
    // 15 minutes on, still no word of k2 while k3's arrived: Meta never took it; it is sent now.
    const later = new ScriptedProvider(accepted);
    await run(loaded, later, { now: () => new Date(Date.now() + 16 * 60_000) });
    expect(recipients(later)).toEqual([phone(2)]);
    expect(await fates(first.run_id)).toContain('k2 pending/never_accepted');
  });

  it('a provider that refuses a reused id gets an unknown send again with the same id (Infobip)', async () => {
    const provider = new ScriptedProvider((msg) => (msg.attempt === 1 ? { kind: 'unknown', detail: 'socket hang up' } : accepted(msg)), true);
    const summary = await run(freshJob(2, { concurrency: 1 }), provider);
    expect(summary.counts).toMatchObject({ accepted: 2, unknown: 0 });
    expect(provider.calls.map((c) => [c.recipient, c.attempt])).toEqual([[phone(0), 1], [phone(0), 2], [phone(1), 1], [phone(1), 2]]);
    expect(new Set(provider.calls.slice(0, 2).map((c) => c.sendId)).size).toBe(1);
  });

  it('the suppression table is read at decide time: a recipient who opted out is never sent', async () => {
    await wh.insert(SUPPRESSIONS, [{ recipient: phone(40), reason: 'opted_out:keyword', source_event_id: 'ev', created_at: new Date() }], { ignoreDuplicates: true });
    const loaded = loadedJob(41, {}, `ledger_${++jobs}`);
    const provider = new ScriptedProvider(accepted);
    const summary = await run(loaded, provider);
    expect((await fates(summary.run_id)).find((f) => f.startsWith('k40 '))).toBe('k40 suppressed/opted_out');
    expect(recipients(provider)).not.toContain(phone(40));
    await wh.query('DELETE FROM herald.suppressions WHERE recipient = $1', [phone(40)]);
  });
});

describe('a PostgreSQL outage in the middle of a run', () => {
  it('stops the run cleanly (exit 1), and the same run key continues it once PostgreSQL is back: nobody twice', async () => {
    const pg = await freshPgUrl();
    const proxy = new CuttableProxy(targetOf(pg.url));
    await proxy.open();
    const wh = await PostgresWarehouse.open(throughProxy(pg.url, proxy));
    try {
      const loaded = loadedJob(200, { concurrency: 2, rate_per_second: 400 }, 'outage_run');
      let cut: Promise<void> | undefined;
      const first = new ScriptedProvider((msg, i) => {
        if (i === 20) cut = proxy.cut(); // every connection drops, the job lock's too
        return accepted(msg);
      });
      await expect(runJob({ loaded, wh, provider: first, senders: new SenderRegistry(), logger: silentLogger, runKey: 'pg-out' }))
        .rejects.toThrow(/could not be recorded.*--run-key pg-out/);
      await cut;
      expect(first.calls.length).toBeLessThan(40);
      await proxy.open();
      const second = new ScriptedProvider(accepted);
      const resumed = await runJob({ loaded, wh, provider: second, senders: new SenderRegistry(), logger: silentLogger, runKey: 'pg-out' });
      expect(resumed).toMatchObject({ resumed: true, status: 'succeeded' });
      // Sends in flight when the connection dropped may have reached the provider: unknown, not resent.
      expect(resumed.counts.unknown).toBeLessThanOrEqual(2);
      expect(resumed.counts.accepted + resumed.counts.unknown).toBe(200);
      const all = recipients(first, second);
      expect(new Set(all).size).toBe(all.length);
    } finally {
      await wh.close();
      await proxy.cut();
      await pg.cleanup();
    }
  });
});

function recipients(...providers: ScriptedProvider[]): string[] {
  return providers.flatMap((p) => p.calls.map((c) => c.recipient));
}
