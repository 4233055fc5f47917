/** The two engines every ledger promise is tested on: an in-memory DuckDB, and a PostgreSQL database of the test file's own. */
import { DuckDbWarehouse } from '../../src/warehouse/duckdb.warehouse.js';
import { PostgresWarehouse } from '../../src/warehouse/postgres.warehouse.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';
import { freshPgUrl } from './pg.js';

export interface Engine {
  name: string;
  open(): Promise<{ wh: Warehouse; cleanup(): Promise<void> }>;
}

export const ENGINES: readonly Engine[] = [
  { name: 'DuckDB', open: async () => ({ wh: await DuckDbWarehouse.open(':memory:'), cleanup: async () => undefined }) },
  {
    name: 'PostgreSQL',
    open: async () => {
      const pg = await freshPgUrl();
      return { wh: await PostgresWarehouse.open(pg.url), cleanup: pg.cleanup };
    },
  },
];
