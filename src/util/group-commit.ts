/**
 * Group commit: callers hand over items and wait until they are durably written. Items that
 * arrive while a write is under way form the next batch, so one write serves many callers and
 * the batch size follows the load on its own.
 */
interface Waiter<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T> {
  private pending: Waiter<T>[] = [];
  private running: Promise<void> | null = null;

  constructor(private readonly write: (items: T[]) => Promise<void>, private readonly maxBatch = 5000) {}

  /** Resolves once every item is written; rejects if the write that carried them failed. */
  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    const done = items.map((item) => new Promise<void>((resolve, reject) => this.pending.push({ item, resolve, reject })));
    this.running ??= this.drain();
    return Promise.all(done).then(() => undefined);
  }

  /** Resolves when nothing is pending or being written. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    // Let the callers of this tick join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        await this.write(batch.map((w) => w.item));
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.running = null;
  }
}
