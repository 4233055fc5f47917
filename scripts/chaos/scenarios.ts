/**
 * The four scenarios. Each drives herald through its CLI or HTTP interface only, with webhooks
 * flowing throughout, and leaves the measuring to report.ts.
 */
import { sleep } from './herald.js';
import { PoisonPoster } from './poison.js';
import type { Attempt, Interruption } from './runners.js';
import { APP_SECRET, PHONE_NUMBER_ID, type World } from './world.js';

/** Resolves when `condition` holds, the attempt ends, or `timeoutMs` passes. */
async function until(condition: () => boolean, attempt: Attempt | null, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && !(attempt?.finished() ?? false) && Date.now() < deadline) await sleep(20);
}

/** Sleeps `ms`, or less when the attempt ends first. */
function sleepOrEnd(ms: number, attempt: Attempt): Promise<void> {
  return until(() => false, attempt, ms);
}

/**
 * Runs with one run key, interrupted at random moments: `kills` SIGKILLs and `stops` SIGTERMs
 * (Ctrl-C, a container stop) in a random order; on DuckDB the signal hits herald serve, which runs
 * the job. Then the same key to completion, then a plain next run.
 */
export async function kills(w: World): Promise<void> {
  const key = 'chaos-kills';
  const signals: Interruption[] = [...Array<Interruption>(w.o.kills).fill('SIGKILL'), ...Array<Interruption>(w.o.stops).fill('SIGTERM')];
  for (let i = signals.length - 1; i > 0; i--) {
    const j = Math.floor(w.rng.next() * (i + 1));
    [signals[i], signals[j]] = [signals[j]!, signals[i]!];
  }
  const done = { SIGKILL: 0, SIGTERM: 0, before_first_send: 0 };
  for (const [i, signal] of signals.entries()) {
    const before = w.standIn.arrivals;
    const attempt = w.runner.start(key);
    if (signal === 'SIGKILL' && w.rng.chance(0.2)) {
      // Some kills land before the first send: during start-up and crash recovery.
      done.before_first_send++;
      await sleepOrEnd(w.rng.between(50, 1500), attempt);
    } else {
      await until(() => w.standIn.arrivals > before, attempt, 8000);
      await sleepOrEnd(w.rng.between(100, 1500), attempt);
    }
    if (attempt.finished()) {
      const outcome = await attempt.done;
      w.record({ label: `attempt ${i + 1}`, ...outcome, detail: `ended before its ${signal}` });
      if (outcome.status === 'succeeded') break; // the key is done: nothing left to interrupt
      continue;
    }
    await attempt.interrupt(signal);
    done[signal]++;
    w.markUnknownRisk();
    const outcome = await attempt.done;
    w.record({ label: `attempt ${i + 1}`, ...outcome, detail: [`${signal} after ${w.standIn.arrivals - before} new send requests`, outcome.detail].filter(Boolean).join('; ') });
  }
  w.notes.kills = done.SIGKILL;
  w.notes.stops = done.SIGTERM;
  w.notes.kills_before_first_send = done.before_first_send;
  await w.runToEnd('same key to completion', key);
  await w.webhooks.drained(20_000);
  await w.resendWindow();
  await w.runToEnd('plain next run', null);
}

/** One run with the fault mix, then plain re-runs (faults off) until one attempts nothing. */
export async function faults(w: World): Promise<void> {
  w.faults.ratio = w.o.faultRatio;
  await w.runToEnd(`run with ${(w.o.faultRatio * 100).toFixed(0)}% faults`, 'chaos-faults');
  w.faults.ratio = 0;
  w.markUnknownRisk();
  w.notes.faults_played = { ...w.faults.played };
  for (let i = 1; i <= 4; i++) {
    await w.webhooks.drained(20_000);
    await w.resendWindow();
    const before = w.standIn.arrivals;
    const outcome = await w.runToEnd(`re-run ${i}`, null);
    if (w.standIn.arrivals === before && outcome.ended === 'finished') break; // nothing left to send
  }
}

/**
 * PostgreSQL restarts on the throwaway cluster, herald serve up throughout and expected to stay up:
 * 1. under a CLI run with key K (webhooks flowing into serve meanwhile);
 * 2. under a run inside serve (POST /runs with key K2: serve holds the job's lock and its
 *    connections) while a flood of held-back webhooks is being ingested;
 * 3+. under the CLI run that completes K, at random moments.
 * Then K2 through serve to completion, and a plain next run.
 */
export async function restart(w: World): Promise<void> {
  const cluster = w.cluster;
  if (!cluster) throw new Error('the restart scenario needs the throwaway cluster');
  let restarts = 0;
  const restartNow = async (what: string) => {
    const t = Date.now();
    await cluster.restart();
    restarts++;
    w.markUnknownRisk();
    w.log(`PostgreSQL restarted ${what} (${Date.now() - t} ms)`);
  };
  const share = (fraction: number) => Math.max(1, Math.floor(w.truth.eligible.size * fraction));

  const cli = w.runner.start('chaos-restart');
  let at = w.standIn.arrivals;
  await until(() => w.standIn.arrivals - at >= share(0.25), cli, 30_000);
  await restartNow(`under a CLI run, ${w.standIn.arrivals - at} sends in, ${w.webhooks.outstanding()} statuses outstanding`);
  w.record({ label: 'CLI run K, restart under it', ...(await cli.done) });

  if (w.o.restarts >= 2) {
    w.webhooks.pause();
    const inServe = w.api.start('chaos-restart-serve');
    at = w.standIn.arrivals;
    await until(() => w.standIn.arrivals - at >= share(0.2), inServe, 30_000);
    w.webhooks.resume();
    await sleep(100);
    await restartNow(`under a run in serve (${w.standIn.arrivals - at} sends in) and a webhook flood (${w.webhooks.outstanding()} statuses outstanding)`);
    w.record({ label: 'run K2 in serve, restart under it', ...(await inServe.done) });
  }

  const completion = w.runner.start('chaos-restart');
  for (let i = 2; i < w.o.restarts && !completion.finished(); i++) {
    await sleepOrEnd(w.rng.between(300, 1500), completion);
    if (!completion.finished()) await restartNow('under the CLI run completing K');
  }
  w.record({ label: 'K to completion (CLI)', ...(await completion.done) });
  if (w.o.restarts >= 2) await w.runToEnd('K2 to completion (serve)', 'chaos-restart-serve', w.api);
  w.notes.restarts = restarts;
  await w.webhooks.drained(30_000);
  await w.resendWindow();
  await w.runToEnd('plain next run (CLI)', null);
}

/** One run while poison webhooks are posted beside the valid ones (about 20 a second). */
export async function poison(w: World): Promise<void> {
  const poster = new PoisonPoster({ target: () => `${w.serve.url}/webhooks/meta`, appSecret: APP_SECRET, phoneNumberId: PHONE_NUMBER_ID, everyMs: 50 });
  w.cleanup.add('poison poster', () => poster.stop());
  poster.start();
  await w.runToEnd('run beside poison', 'chaos-poison');
  await w.webhooks.drained(20_000);
  await poster.stop();
  w.notes.poison_answers = poster.answers;
}

export const SCENARIO_RUNS = { kills, faults, restart, poison } as const;
