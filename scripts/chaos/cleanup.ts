/**
 * Every exit path cleans up: child processes, the throwaway PostgreSQL cluster, databases and
 * temp dirs are registered here as they are made and undone in reverse order on a normal end, a
 * failure, an uncaught error or SIGINT/SIGTERM. A run of the suite that was itself killed -9
 * leaves its temp dir with its pid in it; the next run reaps it (`reapStale` in leftovers.ts).
 */
export type CleanupAction = () => Promise<void> | void;

export class Cleanup {
  private readonly actions: { what: string; run: CleanupAction }[] = [];
  private closed = false;

  /** True once the registry has started undoing: exits from here on are the cleanup's own. */
  get closing(): boolean {
    return this.closed;
  }

  /**
   * Registers an action; the returned function runs it now (once) and forgets it. Once this
   * registry has run, whatever is added is undone at once (a straggler of a timed-out scenario
   * starting a process after its cleanup kills it straight away).
   */
  add(what: string, run: CleanupAction): () => Promise<void> {
    if (this.closed) {
      void Promise.resolve().then(run).catch(() => undefined);
      return async () => undefined;
    }
    const entry = { what, run };
    this.actions.push(entry);
    return async () => {
      const i = this.actions.indexOf(entry);
      if (i < 0) return;
      this.actions.splice(i, 1);
      await entry.run();
    };
  }

  /** Runs every action, newest first; a failing action is reported and the rest still run. */
  async run(): Promise<void> {
    this.closed = true;
    while (this.actions.length > 0) {
      const { what, run } = this.actions.pop()!;
      try {
        await run();
      } catch (err) {
        console.error(`chaos: cleanup of ${what} failed: ${(err as Error).message}`);
      }
    }
  }
}

/** The process-wide registry: scenario registries hang off it while they are alive. */
export const globalCleanup = new Cleanup();

let exiting = false;

/** Cleans up, then exits with `code`; a second call while cleaning up exits at once. */
export async function exitAfterCleanup(code: number): Promise<never> {
  if (exiting) process.exit(code);
  exiting = true;
  await globalCleanup.run();
  process.exit(code);
}

export function installExitHandlers(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      console.error(`chaos: ${signal}: cleaning up`);
      void exitAfterCleanup(130);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('chaos: uncaught error:', err);
    void exitAfterCleanup(1);
  });
  process.on('unhandledRejection', (err) => {
    console.error('chaos: unhandled rejection:', err);
    void exitAfterCleanup(1);
  });
}
