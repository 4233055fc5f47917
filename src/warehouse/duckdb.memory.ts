/**
 * `streaming_memory_limit` (32MB by default, `off` to turn it off): DuckDB's memory follows the
 * phase of herald's queries. The full `memory_limit` while any query computes (a sort, an
 * aggregate, a DISTINCT ON or a report's joins need it: at 32 MB they fail with "Out of Memory"
 * on a few hundred thousand rows), and the smaller limit while a segment's rows only flow and
 * the ledger is written. Without it DuckDB's buffer pool fills to the full limit with cached
 * table blocks for the whole run (bench/memory.ts: ~90 MB of a 2,000,000-row dry run).
 *
 * Lowering is best effort: DuckDB refuses while a result holds more than the smaller limit pinned
 * (a sorted result), and the phase keeps the full limit and tries again later. A query raises the
 * limit back before it runs. Between runs the streaming limit stays, so an idle `herald serve`
 * does not sit on a query-sized cache; a freshly opened warehouse starts at the full limit.
 *
 * It was opt-in until segments were read detached (duckdb.warehouse.ts `spooled`): with the
 * segment query held open, every settlement's old row versions piled up in DuckDB's transaction
 * memory, which at 32MB spilled to disk and slowed sends to a quarter of their rate.
 */
import { ConfigError } from '../errors.js';

/** How often (in chunks) a refused lowering is tried again. */
const RETRY_EVERY_CHUNKS = 50;

export interface StreamPhase {
  /** A chunk arrived: the query computes no more. */
  chunk(): void;
  /** The stream is closed (finished, abandoned or failed). */
  close(): void;
}

export class MemoryPhases {
  private computing = 0;
  private lowered = false;
  /** Phase changes run one at a time, in order, each deciding on the counts as they are then. */
  private chain: Promise<void> = Promise.resolve();

  /**
   * `set` applies a memory_limit; `streamingLimit` null (or not below `queryLimit`) turns the
   * switch off.
   */
  constructor(
    private readonly set: (limit: string) => Promise<void>,
    private readonly queryLimit: string,
    private readonly streamingLimit: string | null,
  ) {}

  /** Call before a query runs; resolves once the full limit is in force. */
  async starting(): Promise<StreamPhase> {
    this.computing++;
    await this.change(async () => {
      if (this.lowered) await this.apply(this.queryLimit, false);
    });
    let computing = true;
    let chunks = 0;
    let closed = false;
    return {
      chunk: () => {
        chunks++;
        if (computing) {
          computing = false;
          this.computing--;
          void this.tryLower();
        } else if (!this.lowered && chunks % RETRY_EVERY_CHUNKS === 0) {
          void this.tryLower();
        }
      },
      close: () => {
        if (closed) return;
        closed = true;
        if (computing) {
          computing = false;
          this.computing--;
          void this.tryLower();
        }
      },
    };
  }

  /** Resolves when no limit change is under way. */
  idle(): Promise<void> {
    return this.chain;
  }

  private tryLower(): Promise<void> {
    return this.change(async () => {
      if (this.streamingLimit && !this.lowered && this.computing === 0) await this.apply(this.streamingLimit, true);
    });
  }

  private async apply(limit: string, lowered: boolean): Promise<void> {
    try {
      await this.set(limit);
      this.lowered = lowered;
    } catch {
      // DuckDB could not free enough to lower the limit: the full limit stays in force.
    }
  }

  private change(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step, step);
    return this.chain;
  }
}

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$/i;
const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** Bytes of a DuckDB size setting ("128MB", "1 GiB"); a ConfigError names the setting otherwise. */
export function sizeInBytes(setting: string, value: string): number {
  const m = SIZE.exec(value);
  if (!m) throw ConfigError.of('HERALD_WAREHOUSE_URL', setting, `"${value}" is not a size`, `write it as DuckDB does, e.g. ${setting}=64MB or ${setting}=1GB`);
  return Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
}
