/**
 * `npm run chaos`: herald's promise — nobody messaged twice, no eligible recipient left
 * unmessaged, no acknowledged event lost, herald serve never down by itself — under SIGKILLs,
 * provider faults, PostgreSQL restarts and poison webhooks, on DuckDB and PostgreSQL, against a
 * local Meta Cloud API stand-in. See docs/reliability.md.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exitAfterCleanup, globalCleanup, installExitHandlers } from './cleanup.js';
import { lastLines } from './herald.js';
import { reapStale, TEMP_PREFIX } from './leftovers.js';
import { parseOptions, type ScenarioName, type SuiteOptions } from './options.js';
import { probeHerald } from './probe.js';
import { measure, printFigures, writeResults, type Figures } from './report.js';
import { SCENARIO_RUNS } from './scenarios.js';
import { withClient, type Engine } from './warehouse.js';
import { World, type HeraldTraits } from './world.js';

async function runScenario(engine: Engine, scenario: ScenarioName, o: SuiteOptions, traits: HeraldTraits, root: string): Promise<Figures> {
  const started = Date.now();
  let world: World;
  try {
    world = await World.create(engine, scenario, o, traits, root);
  } catch (err) {
    return setupFailed(engine, scenario, `setting up: ${(err as Error).message}`, started);
  }
  let error: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      SCENARIO_RUNS[scenario](world),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${o.scenarioTimeoutMs / 1000} s`)), o.scenarioTimeoutMs))),
    ]);
  } catch (err) {
    error = (err as Error).message;
    world.log(`failed: ${error}\n${lastLines(join(world.dir, 'herald.log'), 30)}`);
  } finally {
    clearTimeout(timer);
  }
  try {
    const figures = await measure(world, error);
    world.log(figures.passed ? 'passed' : 'FAILED');
    return figures;
  } finally {
    await world.dispose();
  }
}

function setupFailed(engine: Engine, scenario: ScenarioName, error: string, started: number): Figures {
  console.error(`[${engine}/${scenario}] ${error}`);
  return {
    engine, scenario, messaged_twice: -1, unmessaged: -1, acked_events_lost: -1, serve_crashes: -1, ineligible_messaged: -1,
    unknown_left: -1, unknown_reasons: {}, passed: false, eligible: 0, messaged: 0, processed_requests: 0, send_requests: 0,
    acked_events: 0, webhook_posts: 0, webhook_refusals: {}, samples: { messaged_twice: [], unmessaged: [], acked_events_lost: [] }, crashes: [],
    runs: [], herald_runs: [], notes: {}, seconds: Math.round((Date.now() - started) / 1000), error,
  };
}

/** Runs `work` over `items`, at most `limit` at once, results in the items' order. */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function main(): Promise<number> {
  installExitHandlers();
  const o = parseOptions(process.argv.slice(2));
  const usesPostgres = o.engines.includes('postgres');
  const reaped = await reapStale(usesPostgres ? o.pgAdminUrl : null);
  if (reaped.length > 0) console.error(`chaos: reaped leftovers of an earlier run: ${reaped.join(', ')}`);
  const root = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  writeFileSync(join(root, 'owner.pid'), String(process.pid));
  chmodSync(root, 0o711); // the throwaway cluster's own dir below it belongs to user postgres
  if (!o.keep) globalCleanup.add(`temp dir ${root}`, () => rmSync(root, { recursive: true, force: true }));
  else console.error(`chaos: --keep: logs and files stay in ${root}`);

  if (usesPostgres) {
    try {
      await withClient(o.pgAdminUrl, (c) => c.query('SELECT 1'));
    } catch (err) {
      console.error(`chaos: PostgreSQL is not reachable at ${o.pgAdminUrl} (${(err as Error).message}); set CHAOS_PG_URL or use --engine duckdb`);
      return 2;
    }
  }
  const traits = await probeHerald(join(root, 'probe'));
  console.error(`chaos: seed ${o.seed}; ${o.rows} rows at ${o.rate}/s; kills ${o.kills}; restarts ${o.restarts}; faults ${o.faultRatio * 100}%; ` +
    `unknown_resend_after ${traits.resendAfter ?? 'not supported by this build: unknown sends are never re-sent'}`);

  const plan = o.engines.flatMap((engine) => o.scenarios.filter((s) => engine === 'postgres' || s !== 'restart').map((scenario) => ({ engine, scenario })));
  const results = await pool(plan, o.parallel, ({ engine, scenario }) => runScenario(engine, scenario, o, traits, root));
  printFigures(results);
  const out = resolve(o.out);
  writeResults(out, results, { ...o, resend_after: traits.resendAfter });
  const failed = results.filter((r) => !r.passed);
  console.log(`\n${failed.length === 0 ? 'all passed' : `${failed.length} of ${results.length} failed`}; figures in ${out}`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => exitAfterCleanup(code),
  (err: unknown) => {
    console.error('chaos:', err);
    return exitAfterCleanup(1);
  },
);
