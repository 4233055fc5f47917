/**
 * A sender's cap holds whoever sends from it: two jobs in one process, two processes through
 * Redis, two processes through the PostgreSQL lease, messages that leave in batches. Each
 * provider here stamps its calls, so the windows are counted from what reached the provider.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RuntimeConfigSchema } from '../src/config/runtime.schema.js';
import { ConfigError } from '../src/errors.js';
import { RedisPacing } from '../src/dispatch/redis-pacing.js';
import { batchWindowMs, jobRateProblem, SenderRegistry, senderCap } from '../src/dispatch/senders.js';
import { LocalPairRate } from '../src/dispatch/pair-rate.js';
import { silentLogger } from '../src/log.js';
import { runJob } from '../src/pipeline/run-job.js';
import type { OutboundMessage, SendOutcome } from '../src/providers/provider.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { openWarehouse } from '../src/warehouse/open.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { freshPgUrl } from './helpers/pg.js';
import { accepted, loadedJob, ScriptedProvider } from './support/scripted-provider.js';

const SENDER = '15550001234'; // loadedJob's sender

/** A scripted provider that notes when each call reached it, with a cap for its sender. */
class StampingProvider extends ScriptedProvider {
  readonly senderRates: Record<string, number>;
  readonly arrivals: number[];
  constructor(cap: number, arrivals: number[] = [], script: (msg: OutboundMessage) => SendOutcome = accepted) {
    super((msg) => {
      arrivals.push(performance.now());
      return script(msg);
    });
    this.senderRates = { [SENDER]: cap };
    this.arrivals = arrivals;
  }
}

/** The most stamps in any window of `ms` that starts at a stamp. */
function densest(stamps: readonly number[], ms = 1000): number {
  const sorted = [...stamps].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('the sender\'s cap', () => {
  it('comes from the config\'s senders, else what the provider measured, else its rate; never above its maximum', () => {
    const meta = { name: 'meta' as const, defaultRatePerSecond: 80, maxRatePerSecond: 1000 };
    expect(senderCap(meta, 'n1')).toEqual({ rate: 80, source: 'providers.meta.rate_per_second' });
    expect(senderCap(meta, 'n1', { rate: 1000, source: 'meta throughput HIGH' })).toEqual({ rate: 1000, source: 'meta throughput HIGH' });
    // The config may hold a number below its level (it is shared with another system) …
    expect(senderCap({ ...meta, senderRates: { n1: 40 } }, 'n1', { rate: 1000, source: 'meta throughput HIGH' }).rate).toBe(40);
    // … but not above what Meta says the number may do.
    expect(senderCap({ ...meta, senderRates: { n1: 1000 } }, 'n1', { rate: 80, source: 'meta throughput STANDARD' }))
      .toEqual({ rate: 80, source: 'meta throughput STANDARD' });
    expect(senderCap({ name: 'ada', defaultRatePerSecond: 50, maxRatePerSecond: 5 }, 'x')).toEqual({ rate: 5, source: 'ada maximum' });
  });

  it('a job asking for more than the provider ever accepts is a config error naming the field', async () => {
    const ada = { name: 'ada' as const, maxRatePerSecond: 5 };
    expect(jobRateProblem(ada, 5, 'j.yaml')).toBeNull();
    expect(jobRateProblem(ada, undefined, 'j.yaml')).toBeNull();
    // The config cannot promise more either.
    expect(RuntimeConfigSchema.safeParse({ providers: { ada: { rate_per_second: 10 } } }).error?.issues[0]?.message).toBe('ADA accepts at most 5 messages per second');
    expect(RuntimeConfigSchema.safeParse({ providers: { ada: { senders: { ch1: { rate_per_second: 6 } } } } }).success).toBe(false);
    expect(jobRateProblem(ada, 75, 'j.yaml')).toMatchObject({ file: 'j.yaml', path: 'delivery.rate_per_second', message: expect.stringMatching(/75 .* ada .*5\/s/) });
    const wh = await DuckDbWarehouse.open(':memory:');
    try {
      const provider = Object.assign(new ScriptedProvider(accepted), { maxRatePerSecond: 5 });
      await expect(runJob({ loaded: loadedJob(3, { rate_per_second: 75 }), wh, provider, senders: new SenderRegistry(), logger: silentLogger })).rejects.toThrow(ConfigError);
      expect(provider.calls).toHaveLength(0);
    } finally {
      await wh.close();
    }
  });
});

describe('one sender, two jobs in one process', () => {
  it('the jobs share the sender\'s cap whatever each asks for, and each keeps under its own rate', async () => {
    const wh = await DuckDbWarehouse.open(':memory:');
    try {
      const senders = new SenderRegistry();
      const a = new StampingProvider(20);
      const b = new StampingProvider(20);
      const [ra, rb] = await Promise.all([
        runJob({ loaded: loadedJob(30, { rate_per_second: 15, concurrency: 8 }, 'job_a'), wh, provider: a, senders, logger: silentLogger }),
        runJob({ loaded: loadedJob(30, { rate_per_second: 20, concurrency: 8 }, 'job_b'), wh, provider: b, senders, logger: silentLogger }),
      ]);
      expect([ra.counts.accepted, rb.counts.accepted]).toEqual([30, 30]);
      const arrivals = [...a.arrivals, ...b.arrivals].sort((x, y) => x - y);
      expect(densest(arrivals)).toBeLessThanOrEqual(20);
      expect(densest(a.arrivals)).toBeLessThanOrEqual(15);
      // Both together took about 60 / 20 s: the cap was used, not split in halves.
      expect(arrivals.at(-1)! - arrivals[0]!).toBeLessThan(3600);
    } finally {
      await wh.close();
    }
  });

  it('a batch is counted when it leaves, so the messages it gathered never bunch over the cap', async () => {
    const wh = await DuckDbWarehouse.open(':memory:');
    try {
      const departures: number[] = [];
      // Holds each message 300 ms before its batch leaves, as a lingering batcher would.
      const batching = Object.assign(new StampingProvider(10), {
        batches: true,
        async send(msg: OutboundMessage): Promise<SendOutcome> {
          await new Promise((r) => setTimeout(r, 300));
          await msg.departing?.();
          departures.push(performance.now());
          return accepted(msg);
        },
      });
      const summary = await runJob({ loaded: loadedJob(25, { concurrency: 25 }), wh, provider: batching, senders: new SenderRegistry(), logger: silentLogger });
      expect(summary.counts.accepted).toBe(25);
      expect(densest(departures)).toBeLessThanOrEqual(10);
    } finally {
      await wh.close();
    }
  });
});

describe('the pair rate', () => {
  it('allows a burst of 45 to one recipient, then one per 6 s; others are not held up', () => {
    let now = 0;
    const pairs = new LocalPairRate(6000, 45, () => now);
    const waits = Array.from({ length: 47 }, () => pairs.reserveNow('+12015550100'));
    expect(waits.slice(0, 45).every((w) => w === 0)).toBe(true);
    expect(waits.slice(45)).toEqual([6000, 12000]);
    expect(pairs.reserveNow('+12015550101')).toBe(0);
    now = 60_000; // the debt is paid back with time
    expect(pairs.reserveNow('+12015550100')).toBe(0);
  });

  it('a booked wait delays that recipient\'s send, not the run\'s other rows', async () => {
    const wh = await DuckDbWarehouse.open(':memory:');
    try {
      const sentAt = new Map<string, number>();
      const provider = new ScriptedProvider((msg) => {
        sentAt.set(msg.recipient, performance.now());
        return accepted(msg);
      });
      // The first row's recipient owes 400 ms (as if it had just had its burst).
      const pairs = { reserve: (r: string) => Promise.resolve(r === '+12015550100' ? 400 : 0) };
      class Owing extends SenderRegistry {
        override async open(r: Parameters<SenderRegistry['open']>[0]) {
          return { ...(await super.open(r)), pairs };
        }
      }
      const senders = new Owing();
      const started = performance.now();
      await runJob({ loaded: loadedJob(3, { concurrency: 3 }), wh, provider, senders, logger: silentLogger });
      expect(sentAt.get('+12015550100')! - started).toBeGreaterThanOrEqual(395);
      expect(sentAt.get('+12015550101')! - started).toBeLessThan(300);
    } finally {
      await wh.close();
    }
  });
});

describe.runIf(inject('redisUrl'))('across processes through Redis', () => {
  const url = inject('redisUrl')!;
  const prefix = `herald-test-${process.pid}-${Date.now()}`;

  it('two processes on one sender stay under its cap together, and use all of it', async () => {
    const [wa, wb] = [await DuckDbWarehouse.open(':memory:'), await DuckDbWarehouse.open(':memory:')];
    // Two registries, two Redis connections, two warehouses: two processes in all but the pid.
    const [pa, pb] = [new RedisPacing(url, prefix), new RedisPacing(url, prefix)];
    try {
      const arrivals: number[] = [];
      const [a, b] = [new StampingProvider(20, arrivals), new StampingProvider(20, arrivals)];
      const [ra, rb] = await Promise.all([
        runJob({ loaded: loadedJob(30, { concurrency: 8 }, 'proc_a'), wh: wa, provider: a, senders: new SenderRegistry({ redis: pa }), logger: silentLogger }),
        runJob({ loaded: loadedJob(30, { concurrency: 8 }, 'proc_b'), wh: wb, provider: b, senders: new SenderRegistry({ redis: pb }), logger: silentLogger }),
      ]);
      expect([ra.counts.accepted, rb.counts.accepted]).toEqual([30, 30]);
      expect(densest(arrivals)).toBeLessThanOrEqual(20);
      expect(arrivals.at(-1)! - arrivals[0]!).toBeLessThan(3800);
    } finally {
      await Promise.all([pa.close(), pb.close(), wa.close(), wb.close()]);
    }
  });

  it('pair-rate bookings are shared: the second process sees the first one\'s', async () => {
    const [pa, pb] = [new RedisPacing(url, `${prefix}-pair`), new RedisPacing(url, `${prefix}-pair`)];
    try {
      await pa.ready();
      await pb.ready();
      const [a, b] = [pa.pairs(`meta:${SENDER}`), pb.pairs(`meta:${SENDER}`)];
      const waits: number[] = [];
      for (let i = 0; i < 46; i++) waits.push(await (i % 2 === 0 ? a : b).reserve('+12015550100'));
      expect(waits.slice(0, 45).every((w) => w === 0)).toBe(true);
      expect(waits[45]).toBeGreaterThan(5000);
      expect(await b.reserve('+12015550101')).toBe(0);
    } finally {
      await Promise.all([pa.close(), pb.close()]);
    }
  });

  it('a throughput error met by one process slows the others too', async () => {
    const [pa, pb] = [new RedisPacing(url, `${prefix}-slow`), new RedisPacing(url, `${prefix}-slow`)];
    try {
      await pa.ready();
      await pb.ready();
      const [a, b] = [pa.limiter('meta:slow', 20, 1040), pb.limiter('meta:slow', 20, 1040)];
      a.slowDown(); // 20 → 19, for everyone
      await new Promise((r) => setTimeout(r, 50));
      const starts: number[] = [];
      const started = performance.now();
      await Promise.all(Array.from({ length: 25 }, () => b.schedule(async () => void starts.push(performance.now() - started))));
      expect(starts.filter((t) => t < 1000)).toHaveLength(19);
    } finally {
      await Promise.all([pa.close(), pb.close()]);
    }
  });

  it('an unreachable Redis stops the run before anything is sent, naming HERALD_REDIS_URL', async () => {
    const wh = await DuckDbWarehouse.open(':memory:');
    const dead = new RedisPacing('redis://127.0.0.1:9', prefix);
    try {
      const provider = new StampingProvider(20);
      const summary = await runJob({ loaded: loadedJob(3), wh, provider, senders: new SenderRegistry({ redis: dead }), logger: silentLogger });
      expect(summary).toMatchObject({ status: 'aborted', exit_code: 1, error: expect.stringMatching(/Redis at redis:\/\/127\.0\.0\.1:9 \(HERALD_REDIS_URL\) is not reachable/) });
      expect(provider.calls).toHaveLength(0);
    } finally {
      await dead.close();
      await wh.close();
    }
  });
});

// PGlite serves one session, in which advisory locks never conflict: the lease needs a real server.
describe.runIf(inject('pgKind') === 'server')('across processes through the PostgreSQL sender lease', () => {
  let pg: Awaited<ReturnType<typeof freshPgUrl>>;
  let whs: Warehouse[] = [];
  beforeAll(async () => {
    pg = await freshPgUrl();
    whs = [await openWarehouse(pg.url), await openWarehouse(pg.url)];
  });
  afterAll(async () => {
    for (const wh of whs) await wh.close();
    await pg.cleanup();
  });

  it('one process paces the sender at a time; the other waits for the lease, then sends', async () => {
    const [a, b] = [new StampingProvider(40), new StampingProvider(40)];
    const first = runJob({ loaded: loadedJob(30, { concurrency: 4 }, 'lease_a'), wh: whs[0]!, provider: a, senders: new SenderRegistry(), logger: silentLogger });
    await new Promise((r) => setTimeout(r, 100));
    const second = runJob({ loaded: loadedJob(30, { concurrency: 4 }, 'lease_b'), wh: whs[1]!, provider: b, senders: new SenderRegistry(), logger: silentLogger });
    const [ra, rb] = await Promise.all([first, second]);
    expect([ra.counts.accepted, rb.counts.accepted]).toEqual([30, 30]);
    // No overlap: the second process's first send came after the first one's last.
    expect(b.arrivals[0]!).toBeGreaterThan(a.arrivals.at(-1)!);
    expect(densest([...a.arrivals, ...b.arrivals])).toBeLessThanOrEqual(40);
  });

  it('a lease lost with its connection stops the runs under it; the next run takes the lease again', async () => {
    const senders = new SenderRegistry();
    const provider = new StampingProvider(40);
    const first = await senders.open({ provider, sender: SENDER, wh: whs[0]! });
    // The advisory lock's connection goes, as in a PostgreSQL restart.
    await whs[1]!.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
    await new Promise((r) => setTimeout(r, 200));
    expect(first.lost.aborted).toBe(true);
    await first.close();
    const summary = await runJob({ loaded: loadedJob(5, { concurrency: 2 }, 'lease_again'), wh: whs[0]!, provider, senders, logger: silentLogger });
    expect(summary).toMatchObject({ status: 'succeeded', counts: expect.objectContaining({ accepted: 5 }) });
  });
});

describe('batchWindowMs', () => {
  it('is the time of ~16 messages, from the warehouse floor to 200 ms', () => {
    expect(batchWindowMs(1000)).toBe(16);
    expect(batchWindowMs(1000, 60)).toBe(60); // DuckDB: a commit costs ~9 ms of CPU
    expect(batchWindowMs(5000)).toBe(15);
    expect(batchWindowMs(160, 60)).toBe(100);
    expect(batchWindowMs(80, 60)).toBe(200);
    expect(batchWindowMs(4.75)).toBe(200);
  });
});
