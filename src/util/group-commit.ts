/**
 * Group commit: callers hand over items and wait until the write that carried them is durable.
 * Items that arrive while writes are under way form the next batch, so one write serves many
 * callers and the batch size follows the load. Up to `writers` batches are written at once (one by
 * default): a database with several connections (PostgreSQL) can overlap one batch's commit with
 * the next batch's insert, while a single-writer engine (DuckDB) takes them in turn.
 *
 * One waiter per call, not per item: a call's items always travel in one batch, so a 2,048-row
 * chunk costs one promise rather than 2,048 (which the GC had to trace and promote).
 *
 * With `isolate`, a failed batch of several calls is written again call by call, so one caller's
 * unstorable items fail only that caller (webhooks: one bad body must not cost the others a retry).
 */
interface Waiter<T> {
  items: readonly T[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T> {
  private pending: Waiter<T>[] = [];
  private active = 0;
  private scheduled = false;
  private readonly idlers: (() => void)[] = [];

  /**
   * `maxBatch` bounds a batch by items, except that one call's items are never split. `isolate`:
   * after a failed batch of several calls, write each call's items on their own.
   */
  constructor(
    private readonly write: (items: readonly T[]) => Promise<void>,
    private readonly writers: () => number = () => 1,
    private readonly maxBatch = 5000,
    private readonly options: { isolate?: boolean } = {},
  ) {}

  /** Resolves once every item is written; rejects if the write that carried them failed (with `isolate`, their own write). */
  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.pending.push({ items, resolve, reject }));
    this.schedule();
    return done;
  }

  /** Resolves when nothing is pending or being written. */
  idle(): Promise<void> {
    if (this.active === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idlers.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.active >= this.writers()) return;
    this.scheduled = true;
    // Let the callers of this tick join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.startWrites();
    });
  }

  private startWrites(): void {
    while (this.pending.length > 0 && this.active < this.writers()) {
      const batch = this.takeBatch();
      this.active++;
      this.write(batch.length === 1 ? batch[0]!.items : batch.flatMap((w) => w.items)).then(
        () => { for (const w of batch) w.resolve(); },
        (err: unknown) => (this.options.isolate && batch.length > 1 ? this.writeEach(batch) : batch.forEach((w) => w.reject(err))),
      ).finally(() => {
        this.active--;
        if (this.pending.length > 0) this.schedule();
        else if (this.active === 0) for (const resolve of this.idlers.splice(0)) resolve();
      });
    }
  }

  /** Each call's items in a write of their own, one after another (the batch's writer slot stays taken). */
  private async writeEach(batch: readonly Waiter<T>[]): Promise<void> {
    for (const w of batch) await this.write(w.items).then(w.resolve, w.reject);
  }

  /** Whole calls from the front of the queue, up to `maxBatch` items (at least one call). */
  private takeBatch(): Waiter<T>[] {
    let count = 0;
    let calls = 0;
    while (calls < this.pending.length && (calls === 0 || count + this.pending[calls]!.items.length <= this.maxBatch)) {
      count += this.pending[calls]!.items.length;
      calls++;
    }
    return this.pending.splice(0, calls);
  }
}
