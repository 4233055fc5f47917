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
 *
 * Batched by time as well as size: a call may say how long its items can wait (`withinMs`). The
 * write starts when the most urgent pending call is due (less the time writes have been taking, so
 * it is durable by then), at once when a call cannot wait, or when the pending items fill a batch.
 * Every write carries all that is pending, whatever its due time: at an ordinary rate the ledger's
 * settlements and the in-flight rows of the next few sends share one transaction instead of one
 * each (each DuckDB transaction costs milliseconds of CPU, whatever it holds).
 */
interface Waiter<T> {
  items: readonly T[];
  resolve: () => void;
  reject: (err: unknown) => void;
  /** performance.now() by which the write carrying it should be durable. */
  due: number;
}

/** The write-time estimate follows the recent writes (EWMA), bounded: one slow write must not make every batch early. */
const WRITE_ESTIMATE_WEIGHT = 0.2;
const WRITE_ESTIMATE_MAX_MS = 50;

export class GroupCommit<T> {
  private pending: Waiter<T>[] = [];
  private pendingItems = 0;
  private active = 0;
  private scheduled = false;
  /** A timer for the earliest due call, and when it fires. */
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private writeEstimateMs = 0;
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

  /**
   * Resolves once every item is written; rejects if the write that carried them failed (with
   * `isolate`, their own write). `withinMs`: how long the items may wait to be durable (0: the
   * next write, which starts on the next turn of the event loop when no write is under way).
   */
  add(items: readonly T[], withinMs = 0): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    const due = performance.now() + Math.max(0, withinMs);
    const done = new Promise<void>((resolve, reject) => this.pending.push({ items, resolve, reject, due }));
    this.pendingItems += items.length;
    this.schedule();
    return done;
  }

  /** Resolves when nothing is pending or being written. */
  idle(): Promise<void> {
    if (this.active === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idlers.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.active >= this.writers() || this.pending.length === 0) return;
    const now = performance.now();
    let due = Infinity;
    for (const w of this.pending) due = Math.min(due, w.due);
    const at = due - this.writeEstimateMs;
    if (at > now && this.pendingItems < this.maxBatch) {
      // Not due yet: wait for the most urgent call (or a fuller batch, or a more urgent call).
      if (this.timer && this.timerAt <= at) return;
      if (this.timer) clearTimeout(this.timer);
      this.timerAt = at;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.timerAt = Infinity;
        this.schedule();
      }, Math.max(1, Math.ceil(at - now)));
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
    }
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
      const started = performance.now();
      this.write(batch.length === 1 ? batch[0]!.items : batch.flatMap((w) => w.items)).then(
        () => {
          const ms = Math.min(WRITE_ESTIMATE_MAX_MS, performance.now() - started);
          this.writeEstimateMs += WRITE_ESTIMATE_WEIGHT * (ms - this.writeEstimateMs);
          for (const w of batch) w.resolve();
        },
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
    this.pendingItems -= count;
    return this.pending.splice(0, calls);
  }
}
