/**
 * How a scenario starts a run, whatever the engine:
 * - PostgreSQL: `herald run <job> --json [--run-key K]` in its own process (interrupted by SIGKILL or SIGTERM);
 * - DuckDB: one process may open the file, so runs go through herald serve's run API
 *   (POST /runs {job, run_key}, then GET /runs/:id), and an interruption is a SIGKILL or SIGTERM of
 *   serve (which is started again at once).
 */
import { sleep, spawnHerald, type ServeProcess, type SpawnOptions } from './herald.js';

export type Interruption = 'SIGKILL' | 'SIGTERM';

export interface RunOutcome {
  /** finished: the run ended on its own; killed / stopped: by our SIGKILL / SIGTERM; stuck: no progress for too long. */
  ended: 'finished' | 'killed' | 'stopped' | 'stuck' | 'error';
  status?: string;
  exitCode?: number | null;
  counts?: Record<string, number>;
  detail?: string;
}

export interface Attempt {
  done: Promise<RunOutcome>;
  /** SIGKILL or SIGTERM now (the CLI, or serve and its runs; serve comes up again), and wait for the exit. */
  interrupt(signal: Interruption): Promise<void>;
  finished(): boolean;
}

export interface Runner {
  /** A run with this key, or a plain next run (null: no key; through the API, a fresh one). */
  start(runKey: string | null): Attempt;
}

/** Progress: some number that grows while a run sends (the stand-in's arrivals). */
type Progress = () => number;

function attempt(done: Promise<RunOutcome>, interrupt: (signal: Interruption) => Promise<void>): Attempt {
  let over = false;
  const tracked = done.finally(() => (over = true));
  return { done: tracked, interrupt, finished: () => over };
}

export class CliRunner implements Runner {
  constructor(private readonly o: SpawnOptions & { jobFile: string; progress: Progress; stallMs: number }) {}

  start(runKey: string | null): Attempt {
    const proc = spawnHerald(['run', this.o.jobFile, '--json', ...(runKey ? ['--run-key', runKey] : [])], this.o);
    let interrupted: Interruption | null = null;
    let stuck = false;
    let hung = false;
    let last = this.o.progress();
    let lastChange = Date.now();
    const watch = setInterval(() => {
      const now = this.o.progress();
      if (now !== last) [last, lastChange] = [now, Date.now()];
      else if (Date.now() - lastChange > this.o.stallMs) {
        stuck = true;
        proc.child.kill('SIGKILL');
      }
    }, 250);
    const done = proc.exited.then((exit): RunOutcome => {
      clearInterval(watch);
      if (interrupted) {
        return { ended: interrupted === 'SIGKILL' ? 'killed' : 'stopped', exitCode: exit.code, ...(hung ? { detail: 'no exit within 30 s of SIGTERM: SIGKILLed' } : {}) };
      }
      if (stuck) return { ended: 'stuck', detail: `no send for ${this.o.stallMs / 1000} s; killed` };
      const summary = lastJsonLine(proc.stdout());
      return {
        ended: 'finished', exitCode: exit.code,
        ...(summary ? { status: String(summary.status), counts: summary.counts as Record<string, number> } : { detail: `exit ${exit.code ?? exit.signal}, no summary` }),
      };
    });
    return attempt(done, async (signal) => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      interrupted = signal;
      proc.child.kill(signal);
      const timer = setTimeout(() => {
        hung = true;
        proc.child.kill('SIGKILL');
      }, 30_000);
      await proc.exited;
      clearTimeout(timer);
    });
  }
}

function lastJsonLine(stdout: string): Record<string, unknown> | null {
  const line = stdout.trimEnd().split('\n').at(-1) ?? '';
  try {
    const parsed = JSON.parse(line) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

interface RunView {
  run_id: string;
  status: string;
  counts?: Record<string, number>;
  error?: string | null;
}

export class ApiRunner implements Runner {
  private plain = 0;

  constructor(private readonly o: { serve: ServeProcess; token: string; job: string; progress: Progress; stallMs: number }) {}

  start(runKey: string | null): Attempt {
    const key = runKey ?? `plain-${Date.now()}-${++this.plain}`;
    const state: { interrupted: Interruption | null } = { interrupted: null };
    const done = this.follow(key, state).catch((err: Error): RunOutcome => ({ ended: 'error', detail: err.message }));
    return attempt(done, async (signal) => {
      state.interrupted = signal;
      if (signal === 'SIGKILL') {
        await this.o.serve.kill();
        await this.o.serve.start();
      } else {
        await this.o.serve.terminate();
      }
    });
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${this.o.serve.url}${path}`, {
      method, signal: AbortSignal.timeout(10_000),
      headers: { authorization: `Bearer ${this.o.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: kept as text for the message
    }
    return { status: res.status, json };
  }

  private async follow(key: string, state: { interrupted: Interruption | null }): Promise<RunOutcome> {
    const interrupted = (): RunOutcome | null => state.interrupted ? { ended: state.interrupted === 'SIGKILL' ? 'killed' : 'stopped' } : null;
    let runId: string | undefined;
    for (let tries = 0; runId === undefined; tries++) {
      const stop = interrupted();
      if (stop) return stop;
      if (tries > 60) return { ended: 'error', detail: 'POST /runs never answered 202' };
      try {
        const r = await this.call('POST', '/runs', { job: this.o.job, run_key: key });
        if (r.status === 202) runId = (r.json as RunView).run_id;
        else if (r.status !== 409 && r.status < 500) return { ended: 'error', detail: `POST /runs: ${r.status} ${JSON.stringify(r.json)}` };
      } catch {
        // serve is restarting
      }
      if (runId === undefined) await sleep(500);
    }
    let signature = '';
    let lastChange = Date.now();
    for (;;) {
      const before = interrupted();
      if (before) return before;
      try {
        const r = await this.call('GET', `/runs/${runId}`);
        const view = r.json as RunView;
        // queued: waiting for a worker to claim its parts (PostgreSQL), as much under way as running.
        if (r.status === 200 && view.status !== 'running' && view.status !== 'queued') return { ended: 'finished', status: view.status, ...(view.counts ? { counts: view.counts } : {}), ...(view.error ? { detail: view.error } : {}) };
        const now = `${JSON.stringify(view.counts ?? null)} ${this.o.progress()}`;
        if (now !== signature) [signature, lastChange] = [now, Date.now()];
      } catch {
        // serve is restarting: no progress either
      }
      const after = interrupted();
      if (after) return after;
      if (Date.now() - lastChange > this.o.stallMs) return { ended: 'stuck', detail: `run ${runId} stayed running with no progress for ${this.o.stallMs / 1000} s` };
      await sleep(250);
    }
  }
}
