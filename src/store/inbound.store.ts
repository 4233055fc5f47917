/** Reads of `herald.events` the send path needs: when each recipient last wrote to us. */
import type { Warehouse } from '../warehouse/warehouse.js';

export async function findLastInbound(wh: Warehouse, recipients: readonly string[]): Promise<Map<string, Date>> {
  if (recipients.length === 0) return new Map();
  const rows = await wh.query<{ recipient: string; last: Date | string }>(
    "SELECT recipient, max(occurred_at) AS last FROM herald.events WHERE event_type = 'inbound' " +
    'AND recipient IN (SELECT unnest($1::text[])) GROUP BY recipient', [recipients]);
  return new Map(rows.filter((r) => r.last !== null).map((r) => [r.recipient, new Date(r.last)]));
}
