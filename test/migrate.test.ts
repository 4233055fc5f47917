/**
 * Migrations run only when the store's recorded schema differs from this herald's: a start at the
 * current schema takes no lock and changes nothing (before, every start re-ran ALTER TABLE and
 * CREATE OR REPLACE VIEW under exclusive locks, and PostgreSQL processes starting beside an open
 * transaction deadlocked), while a store left by an older herald is brought up to date.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { schemaVersion } from '../src/warehouse/migrate.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';
import { PostgresWarehouse } from '../src/warehouse/postgres.warehouse.js';
import type { Warehouse } from '../src/warehouse/warehouse.js';
import { freshPgUrl } from './helpers/pg.js';

/** A store reopened by a new process: a DuckDB file, or a PostgreSQL database of this file's own. */
const STORES = [
  {
    name: 'DuckDB', dialect: 'duckdb' as const,
    async make() {
      const dir = mkdtempSync(join(tmpdir(), 'herald-migrate-'));
      return { open: (): Promise<Warehouse> => DuckDbWarehouse.open(join(dir, 'w.duckdb')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL', dialect: 'postgres' as const,
    async make() {
      const db = await freshPgUrl();
      return { open: (): Promise<Warehouse> => PostgresWarehouse.open(db.url), cleanup: db.cleanup };
    },
  },
];

describe.each(STORES)('schema migrations ($name)', (store) => {
  let s: Awaited<ReturnType<typeof store.make>>;
  beforeAll(async () => (s = await store.make()));
  afterAll(async () => s?.cleanup());

  it('records the schema it migrated to, and brings a store left by an older herald up to date', async () => {
    let wh = await s.open();
    expect(await wh.query('SELECT version FROM herald.schema_version')).toEqual([{ version: schemaVersion(store.dialect) }]);
    // An older herald's store: another version recorded, a view it did not have.
    await wh.query("UPDATE herald.schema_version SET version = 'older'");
    await wh.query('DROP VIEW herald.send_costs');
    await wh.close();

    wh = await s.open();
    try {
      expect(await wh.query('SELECT version FROM herald.schema_version')).toEqual([{ version: schemaVersion(store.dialect) }]);
      expect(await wh.query('SELECT count(*)::INTEGER AS n FROM herald.send_costs')).toEqual([{ n: 0 }]);
    } finally {
      await wh.close();
    }
  });
});

describe('schema migrations of herald.events\' indexes (PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof freshPgUrl>>;
  beforeAll(async () => (db = await freshPgUrl()));
  afterAll(async () => db?.cleanup());

  const indexes = async (wh: Warehouse) => (await wh.query<{ name: string; def: string }>(
    "SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = 'herald' AND tablename = 'events' ORDER BY indexname"));

  it('replaces the full indexes an older herald made with partial ones, keeping the stored events', async () => {
    let wh = await PostgresWarehouse.open(db.url);
    // The store as the herald before them left it: five indexes, every event in each.
    await wh.query('DROP INDEX herald.events_inbound_consent_recipient_idx');
    await wh.query('DROP INDEX herald.events_echoed_send_id_idx');
    await wh.query('CREATE INDEX events_recipient_event_type_idx ON herald.events (recipient, event_type)');
    await wh.query('CREATE INDEX events_send_id_idx ON herald.events (send_id)');
    await wh.query('CREATE INDEX events_user_id_idx ON herald.events (user_id)');
    await wh.query("INSERT INTO herald.events (event_id, provider, event_type, recipient, received_at) VALUES ('e1', 'meta', 'inbound', '+12015550101', now())");
    await wh.query("UPDATE herald.schema_version SET version = 'older'");
    await wh.close();

    wh = await PostgresWarehouse.open(db.url);
    try {
      const found = await indexes(wh);
      expect(found.map((i) => i.name)).toEqual(['events_echoed_send_id_idx', 'events_inbound_consent_recipient_idx', 'events_pkey', 'events_provider_message_id_idx']);
      expect(found.find((i) => i.name === 'events_echoed_send_id_idx')?.def).toMatch(/WHERE \(send_id IS NOT NULL\)/);
      expect(found.find((i) => i.name === 'events_inbound_consent_recipient_idx')?.def).toMatch(/WHERE \(event_type = ANY/);
      expect(await wh.query("SELECT event_id FROM herald.events WHERE event_type = 'inbound' AND recipient = '+12015550101'")).toEqual([{ event_id: 'e1' }]);
    } finally {
      await wh.close();
    }
  });
});

// A second session needs a real server (PGlite, the laptop fallback, has one session).
describe.runIf(inject('pgKind') === 'server')('schema migrations on a PostgreSQL server', () => {
  let db: Awaited<ReturnType<typeof freshPgUrl>>;
  beforeAll(async () => {
    db = await freshPgUrl();
    await (await PostgresWarehouse.open(db.url)).close(); // migrated: the store is at this herald's schema
  });
  afterAll(async () => db?.cleanup());

  it('at the current schema, a start takes no lock: it opens beside an open transaction and a migration in progress', async () => {
    // Another process: a transaction reading herald.sends, and the migration lock held.
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT count(*) FROM herald.sends');
      await other.query('SELECT pg_advisory_xact_lock(7315004201)');
      const wh = await PostgresWarehouse.open(db.url); // waited for both before: ALTER TABLE wants an exclusive lock
      await wh.close();
    } finally {
      await other.query('ROLLBACK');
      await other.end();
    }
  }, 10_000);
});
