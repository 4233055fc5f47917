/**
 * Is the warehouse answering? A cheap query with a deadline, shared by the callers of the moment:
 * during an outage every failing webhook asks at once, and one query answers them all.
 */
import { errorMessage } from '../errors.js';
import type { Warehouse } from '../warehouse/warehouse.js';

/** null when the warehouse answered within `timeoutMs`, else why not. */
export type WarehouseProbe = () => Promise<string | null>;

export function warehouseProbe(wh: () => Warehouse, timeoutMs = 2000): WarehouseProbe {
  let inFlight: Promise<string | null> | null = null;
  return () => {
    inFlight ??= probe(wh(), timeoutMs).finally(() => (inFlight = null));
    return inFlight;
  };
}

async function probe(wh: Warehouse, timeoutMs: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`${wh.kind} did not answer within ${timeoutMs} ms`), timeoutMs)));
  // A query that outlives the deadline settles later into this catch, never as an unhandled rejection.
  const answered = wh.query('SELECT 1 AS ok').then(() => null, (err: unknown) => `${wh.kind} unreachable: ${errorMessage(err)}`);
  try {
    return await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
  }
}
