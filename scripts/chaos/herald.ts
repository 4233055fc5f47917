/**
 * herald as a scheduler or an operator runs it: the built CLI (`bin/herald.js`) in child
 * processes. `herald serve` is kept up (restarted after each kill we make, and after any exit we
 * did not make — a crash, counted); runs go through the CLI or through serve's run API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Cleanup } from './cleanup.js';

/** bin/herald.js of this checkout (this file runs from dist/scripts/chaos), or CHAOS_HERALD_BIN (another build to measure). */
export const HERALD_BIN = ((): string => {
  if (process.env.CHAOS_HERALD_BIN) return process.env.CHAOS_HERALD_BIN;
  for (let dir = import.meta.dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'herald.js')) && existsSync(join(dir, 'package.json'))) return join(dir, 'bin', 'herald.js');
  }
  throw new Error('bin/herald.js not found above the chaos script');
})();

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface HeraldProcess {
  child: ChildProcess;
  exited: Promise<Exit>;
  stdout(): string;
}

export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  /** stderr (herald's JSON logs) and stdout are appended here. */
  logFile: string;
  /** Child pids are appended here, so a later suite run can reap them if this one is killed -9. */
  pidFile: string;
  cleanup: Cleanup;
}

export function spawnHerald(args: string[], o: SpawnOptions): HeraldProcess {
  const log = openSync(o.logFile, 'a');
  const child = spawn(process.execPath, [HERALD_BIN, ...args], { env: o.env, stdio: ['ignore', 'pipe', log] });
  closeSync(log);
  appendFileSync(o.pidFile, `${child.pid}\n`);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    appendFileSync(o.logFile, d);
  });
  const forget = o.cleanup.add(`herald ${args[0]} (pid ${child.pid})`, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => {
    void forget();
    resolve({ code, signal });
  }));
  return { child, exited, stdout: () => stdout };
}

export function lastLines(file: string, n = 12): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Crash {
  at: string;
  exit: Exit;
  log: string;
}

/**
 * One `herald serve` on a fixed port. Exits we cause (kill, stop) are ours; any other exit of a
 * serve that was up is a crash: recorded, and serve is started again so the scenario goes on.
 */
export class ServeProcess {
  readonly crashes: Crash[] = [];
  /** Starts that never answered /healthz (e.g. the warehouse was down); retried. */
  failedStarts = 0;
  kills = 0;
  /** SIGTERMs that serve did not act on within 30 s (then SIGKILLed). */
  hungStops = 0;
  private proc: HeraldProcess | null = null;
  private ours = false;
  private stopped = false;

  constructor(private readonly o: SpawnOptions & { port: number; jobsDir: string }) {}

  get url(): string {
    return `http://127.0.0.1:${this.o.port}`;
  }

  /** Resolves once /healthz answers 200; retries failed starts for up to a minute. */
  async start(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (this.stopped || this.o.cleanup.closing) throw new Error('serve was stopped');
      this.ours = false;
      const proc = spawnHerald(['serve', '--port', String(this.o.port), '--jobs', this.o.jobsDir], this.o);
      this.proc = proc;
      if (await this.healthy(proc)) {
        void proc.exited.then((exit) => this.onExit(proc, exit));
        return;
      }
      this.failedStarts++;
      if (proc.child.exitCode === null) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
      if (Date.now() > deadline) throw new Error(`herald serve did not come up:\n${lastLines(this.o.logFile)}`);
      await sleep(500);
    }
  }

  /** SIGKILL, ours. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    this.ours = true;
    this.kills++;
    proc.child.kill('SIGKILL');
    await proc.exited;
  }

  /** SIGTERM, ours, and up again: a graceful stop (runs end aborted, to be resumed by key). */
  async terminate(): Promise<void> {
    await this.sigterm();
    await this.start();
  }

  /** SIGTERM (graceful: runs settle, events are written), SIGKILL after 30 s; stays down. */
  async stop(): Promise<Exit | null> {
    this.stopped = true;
    return this.sigterm();
  }

  private async sigterm(): Promise<Exit | null> {
    const proc = this.proc;
    if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return null;
    this.ours = true;
    proc.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.hungStops++;
      console.error('chaos: herald serve did not exit within 30 s of SIGTERM: SIGKILL');
      proc.child.kill('SIGKILL');
    }, 30_000);
    const exit = await proc.exited;
    clearTimeout(timer);
    return exit;
  }

  private async healthy(proc: HeraldProcess): Promise<boolean> {
    const deadline = Date.now() + 30_000;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    while (!exited && Date.now() < deadline) {
      try {
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        if (res.status === 200) return true;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    return false;
  }

  private onExit(proc: HeraldProcess, exit: Exit): void {
    if (this.ours || this.proc !== proc || this.o.cleanup.closing) return;
    this.crashes.push({ at: new Date().toISOString(), exit, log: lastLines(this.o.logFile) });
    console.error(`chaos: herald serve exited by itself (code ${exit.code}, signal ${exit.signal}): a crash; starting it again`);
    if (!this.stopped) void this.start().catch((err: Error) => console.error(`chaos: herald serve could not be started again: ${err.message}`));
  }
}
