/**
 * Writes `herald.sends` with group commit: inserts (new rows, including in-flight ones) and
 * settlements (updates of in-flight rows) each resolve only once durable, and concurrent callers
 * share one batched statement.
 */
import type { SendRecord } from '../types.js';
import { GroupCommit } from '../util/group-commit.js';
import { SENDS } from '../warehouse/tables.js';
import type { Warehouse } from '../warehouse/warehouse.js';

/** The columns a settlement may change. */
export const SETTLED_COLUMNS = ['status', 'reason', 'error_code', 'error_detail', 'provider_message_id', 'attempts', 'sent_at', 'recipient', 'variables'] as const;

export class SendsWriter {
  private readonly inserts: GroupCommit<SendRecord>;
  private readonly settlements: GroupCommit<SendRecord>;

  constructor(wh: Warehouse) {
    this.inserts = new GroupCommit((rows) => wh.insert(SENDS, rows as unknown as Record<string, unknown>[]));
    this.settlements = new GroupCommit((rows) => wh.update(SENDS, rows as unknown as Record<string, unknown>[], SETTLED_COLUMNS, { recentOn: 'created_at' }));
  }

  insert(records: readonly SendRecord[]): Promise<void> {
    return this.inserts.add(records);
  }

  settle(records: readonly SendRecord[]): Promise<void> {
    return this.settlements.add(records);
  }

  async idle(): Promise<void> {
    await this.inserts.idle();
    await this.settlements.idle();
  }
}
