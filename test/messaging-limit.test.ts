/**
 * The messaging limit (issue 12 part 4), the same on DuckDB and PostgreSQL: a portfolio never goes
 * past its unique users per 24 h, counting herald's own sends of every job; a run that would is
 * refused before its first send, or sends up to the limit and defers the rest; and two runs at
 * once cannot both spend the same remainder.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { JobSchema } from '../src/config/job.schema.js';
import type { LoadedJob } from '../src/config/load.js';
import { SenderRegistry } from '../src/dispatch/senders.js';
import { silentLogger } from '../src/log.js';
import { runJob } from '../src/pipeline/run-job.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { ENGINES } from './helpers/engines.js';
import { accepted, phone, ScriptedProvider } from './support/scripted-provider.js';

/** A sandbox-like provider whose portfolio may reach `limit` unique users per 24 h. */
class LimitedProvider extends ScriptedProvider {
  constructor(readonly limit: number | null, delayMs = 0) {
    super(async (msg) => {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return accepted(msg);
    });
  }
  messagingLimit = async () => ({ limit: this.limit, source: 'test tier' });
}

/** Rows keyed k<i> to phone(i) for each i; a row given as a string is a phone as written. */
function job(name: string, numbers: (number | string)[], delivery: Record<string, unknown> = {}): LoadedJob {
  const values = numbers.map((n, i) => `('k${i}', '${typeof n === 'number' ? phone(n) : n}', 'true')`).join(', ');
  const parsed = JobSchema.parse({
    name,
    source: { query: `SELECT * FROM (VALUES ${values}) AS t(customer_id, phone, opt_in)` },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'US', consent: 'opt_in' },
    message: { provider: 'sandbox', sender: '15550001234', template: { name: 'hello', language: 'en_US' } },
    delivery: { rate_per_second: 1000, concurrency: 4, ...delivery },
  });
  return { job: parsed, file: `${name}.yaml`, sql: parsed.source.query!, sqlOrigin: `${name}.yaml source.query` };
}

describe.each(ENGINES)('the messaging limit on $name', (engine) => {
  let wh: Warehouse;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ wh, cleanup } = await engine.open()));
  afterAll(async () => {
    await wh.close();
    await cleanup();
  });
  const run = (loaded: LoadedJob, provider: LimitedProvider, extra: { dryRun?: boolean; senders?: SenderRegistry } = {}) =>
    runJob({ loaded, wh, provider, senders: extra.senders ?? new SenderRegistry(), logger: silentLogger, dryRun: extra.dryRun ?? false });
  const fates = async (runId: string) => (await wh.query<{ row_key: string; status: string; reason: string | null }>(
    'SELECT row_key, status, reason FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [runId])).map((r) => `${r.row_key} ${r.status}/${r.reason}`);
  const clear = () => wh.query('DELETE FROM herald.sends');

  it('counts every job\'s recipients of the last 24 h: a recipient already messaged is free, new ones take the rest, the others are deferred', async () => {
    await clear();
    const provider = new LimitedProvider(5);
    const earlier = await run(job('welcome', [0, 1, 2]), provider);
    expect(earlier.messaging_limit).toEqual({ limit: 5, source: 'test tier', used_24h: 0, new_recipients: 3, next_24h: 3, deferred: 0 });

    // Another job: phone(1) was messaged by the first; 2 units are left for phone(10) … phone(14).
    const promo = await run(job('promo', [1, 10, 11, 12, 13, 14], { over_messaging_limit: 'defer' }), provider);
    expect(promo.status).toBe('succeeded');
    expect(await fates(promo.run_id)).toEqual([
      'k0 accepted/null', 'k1 accepted/null', 'k2 accepted/null', 'k3 deferred/messaging_limit', 'k4 deferred/messaging_limit', 'k5 deferred/messaging_limit',
    ]);
    expect(promo.messaging_limit).toEqual({ limit: 5, source: 'test tier', used_24h: 3, new_recipients: 2, next_24h: 5, deferred: 3 });
    expect(provider.calls.map((c) => c.recipient)).toEqual([phone(0), phone(1), phone(2), phone(1), phone(10), phone(11)]);

    // The deferred rows are not blocked for later: once the limit allows, the next run sends them.
    const later = await run(job('promo', [1, 10, 11, 12, 13, 14], { over_messaging_limit: 'defer' }), new LimitedProvider(100));
    expect((await fates(later.run_id)).filter((f) => f.includes('accepted'))).toEqual(['k3 accepted/null', 'k4 accepted/null', 'k5 accepted/null']);
  });

  it('refuse (the default): a run that would pass the limit ends aborted before its first send; one that fits once invalid and repeated rows are seen goes', async () => {
    await clear();
    const provider = new LimitedProvider(4);
    await run(job('earlier', [0, 1]), provider);
    const refused = await run(job('too_many', [20, 21, 22]), provider);
    expect(refused.status).toBe('aborted');
    expect(refused.exit_code).toBe(1);
    expect(refused.error).toBe('the audience would pass the messaging limit: 3 recipients not messaged in the last 24 h, 2 of 4 unique users per 24 h left ' +
      '(test tier; 2 messaged from the portfolio in the last 24 h); nothing was sent. Set delivery.over_messaging_limit: defer to send up to the limit and defer the rest, or run later');
    expect(await fates(refused.run_id)).toEqual([]);
    expect(provider.calls.filter((c) => c.recipient === phone(20))).toEqual([]);

    // 6 rows, but one number is not valid, one repeats, and one was messaged already: 2 new, which fit.
    const fits = await run(job('fits', [20, 21, '+1 555 555 0100', 21, 0, 20]), provider);
    expect(fits.status).toBe('succeeded');
    expect(fits.counts.accepted).toBe(3);
    expect(fits.messaging_limit).toMatchObject({ used_24h: 2, new_recipients: 2, next_24h: 4, deferred: 0 });
  });

  it('a dry run says how many unique recipients the next 24 h would hold, sending nothing', async () => {
    await clear();
    const provider = new LimitedProvider(null);
    await run(job('sent', [0, 1, 2]), provider);
    const dry = await run(job('plan', [2, 3, 4, 5]), provider, { dryRun: true });
    expect(dry.counts.planned).toBe(4);
    expect(dry.messaging_limit).toEqual({ limit: null, source: 'test tier', used_24h: 3, new_recipients: 3, next_24h: 6, deferred: 0 });
    expect(provider.calls).toHaveLength(3);
  });

  // PGlite serves one session, in which advisory locks never conflict: the turn needs a real server (always in CI).
  it.runIf(engine.name !== 'PostgreSQL' || inject('pgKind') === 'server')('two runs of the portfolio at once take the budget in turn: together never past it', async () => {
    await clear();
    const provider = new LimitedProvider(6, 5);
    const senders = new SenderRegistry();
    const [a, b] = await Promise.all([
      run(job('east', [30, 31, 32, 33, 34], { over_messaging_limit: 'defer' }), provider, { senders }),
      run(job('west', [40, 41, 42, 43, 44], { over_messaging_limit: 'defer' }), provider, { senders }),
    ]);
    expect(new Set(provider.calls.map((c) => c.recipient)).size).toBe(6);
    expect(a!.counts.accepted + b!.counts.accepted).toBe(6);
    expect(a!.counts.deferred + b!.counts.deferred).toBe(4);
  });
});
