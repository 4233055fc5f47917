/** Opens a warehouse from its URL (`duckdb:<file>`, `duckdb::memory:`, `postgres://…`) and migrates it. */
import { ConfigError } from '../errors.js';
import { DuckDbWarehouse } from './duckdb.warehouse.js';
import { PostgresWarehouse } from './postgres.warehouse.js';
import type { Warehouse } from './warehouse.js';

export async function openWarehouse(url: string): Promise<Warehouse> {
  if (url.startsWith('duckdb:')) {
    const path = url.slice('duckdb:'.length) || 'warehouse.duckdb';
    return DuckDbWarehouse.open(path);
  }
  if (/^postgres(ql)?:\/\//.test(url)) return PostgresWarehouse.open(url);
  throw ConfigError.of('HERALD_WAREHOUSE_URL', '', `unsupported warehouse URL "${url}"`,
    'use duckdb:warehouse.duckdb, duckdb::memory: or postgres://user@host:5432/db');
}
