/** Opens a warehouse from its URL (`duckdb:<file>`, `duckdb::memory:`, `postgres://…`) and migrates it. */
import { ConfigError } from '../errors.js';
import type { Warehouse } from './warehouse.js';

// Each engine's module is loaded when its URL is opened: a DuckDB run does not load pg (~70 ms of a start).

export async function openWarehouse(url: string): Promise<Warehouse> {
  if (url.startsWith('duckdb:')) {
    // duckdb:<file>[?setting=value&…]: DuckDB settings such as memory_limit or threads.
    const [path = '', query = ''] = url.slice('duckdb:'.length).split('?', 2);
    const { DuckDbWarehouse } = await import('./duckdb.warehouse.js');
    return DuckDbWarehouse.open(path || 'warehouse.duckdb', Object.fromEntries(new URLSearchParams(query)));
  }
  if (/^postgres(ql)?:\/\//.test(url)) return (await import('./postgres.warehouse.js')).PostgresWarehouse.open(url);
  throw ConfigError.of('HERALD_WAREHOUSE_URL', '', `unsupported warehouse URL "${url}"`,
    'use duckdb:warehouse.duckdb, duckdb::memory: or postgres://user@host:5432/db');
}
