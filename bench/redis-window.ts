/**
 * Which shared window across processes: rate-limiter-flexible's RateLimiterRedis, or herald's one
 * Lua script (a sliding log on Redis's clock, src/dispatch/redis-pacing.ts, with the window of
 * 1 s + the 40 ms arrival margin herald uses)? Both at a cap of 80
 * per second, two clients (two Redis connections, as two processes have) asking as fast as each
 * is let: every grant is stamped when its answer arrives, and the densest sliding second of all
 * grants shows whether N processes together stay under the cap.
 *
 * Run alone: `npm run build --silent && node dist/bench/redis-window.js` (needs Redis:
 * HERALD_TEST_REDIS_URL or redis://127.0.0.1:6379; ~20 s).
 */
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RedisPacing } from '../src/dispatch/redis-pacing.js';
import { DEFAULT_ARRIVAL_MARGIN_MS } from '../src/dispatch/senders.js';
import { isMain, printTable, result, writeResults, type BenchResult } from './lib.js';

const CAP = 80;
const SECONDS = 6;
const CLIENTS = 2;
const RUNS = 3;

type Grant = () => Promise<number>; // 0: granted, else ms to wait

interface WindowRun {
  grants: number;
  perSecond: number;
  densest: number;
  windowsAbove: number;
}

async function drive(clients: Grant[]): Promise<WindowRun> {
  const stamps: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(clients.map(async (grant) => {
    while (performance.now() < until) {
      const wait = await grant();
      if (wait === 0) stamps.push(performance.now());
      else await new Promise((r) => setTimeout(r, wait));
    }
  }));
  stamps.sort((a, b) => a - b);
  let densest = 0;
  let windowsAbove = 0;
  for (let i = 0, j = 0; i < stamps.length; i++) {
    while (stamps[i]! - stamps[j]! >= 1000) j++;
    densest = Math.max(densest, i - j + 1);
    if (i - j + 1 > CAP) windowsAbove++;
  }
  return { grants: stamps.length, perSecond: stamps.length / SECONDS, densest, windowsAbove };
}

async function flexible(url: string, run: number): Promise<WindowRun> {
  const redis = Array.from({ length: CLIENTS }, () => new Redis(url));
  const keyPrefix = `herald-bench-rlf-${process.pid}-${run}`;
  const limiters = redis.map((storeClient) => new RateLimiterRedis({ storeClient, keyPrefix, points: CAP, duration: 1 }));
  try {
    return await drive(limiters.map((l) => async () => {
      try {
        await l.consume('sender');
        return 0;
      } catch (res) {
        if (res instanceof RateLimiterRes) return Math.max(1, res.msBeforeNext);
        throw res;
      }
    }));
  } finally {
    for (const r of redis) r.disconnect();
  }
}

async function slidingLog(url: string, run: number): Promise<WindowRun> {
  const pacing = Array.from({ length: CLIENTS }, () => new RedisPacing(url, `herald-bench-log-${process.pid}-${run}`));
  try {
    for (const p of pacing) await p.ready();
    const key = `herald-bench-log-${process.pid}-${run}:sender:{meta:bench}`;
    return await drive(pacing.map((p) => () => p.grant(key, CAP, 1000 + DEFAULT_ARRIVAL_MARGIN_MS, p.nextMember())));
  } finally {
    for (const p of pacing) await p.close();
  }
}

export async function runRedisWindowBench(): Promise<BenchResult[]> {
  const url = process.env.HERALD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const runs = { flexible: [] as WindowRun[], log: [] as WindowRun[] };
  for (let i = 0; i < RUNS; i++) {
    runs.flexible.push(await flexible(url, i));
    runs.log.push(await slidingLog(url, i));
  }
  const detail = (r: WindowRun[]) => r.map((x) => `${x.perSecond.toFixed(1)}/s, densest second ${x.densest}, ${x.windowsAbove} windows above`).join('; ');
  console.error(`rate-limiter-flexible RateLimiterRedis: ${detail(runs.flexible)}`);
  console.error(`herald sliding log (Lua):               ${detail(runs.log)}`);
  const notes = (r: WindowRun[]) => ({ per_second: r.map((x) => x.perSecond), windows_above: r.map((x) => x.windowsAbove) });
  return [
    result({ name: `redis window: herald Lua sliding log (1 s + margin), densest second at cap ${CAP} (${CLIENTS} clients)`, unit: 'grants', target: { op: '<=', value: CAP },
      runs: runs.log.map((r) => r.densest), notes: notes(runs.log) }),
    result({ name: `redis window: rate-limiter-flexible RateLimiterRedis, densest second at cap ${CAP} (${CLIENTS} clients)`, unit: 'grants', target: { op: '<=', value: CAP },
      runs: runs.flexible.map((r) => r.densest), notes: notes(runs.flexible) }),
  ];
}

if (isMain(import.meta.url)) {
  const results = await runRedisWindowBench();
  printTable(results);
  writeResults(results);
}
