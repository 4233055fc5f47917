// A PostgreSQL database of its own for a test file.
//
//   let pgUrl: string; let cleanup: () => Promise<void>;
//   beforeAll(async () => ({ url: pgUrl, cleanup } = await freshPgUrl()));
//   afterAll(() => cleanup());            // close your pools/clients first
//
// Why a database and not a schema: herald's tables live in the fixed schema `herald`, so two test
// files sharing one database would collide. On a real server (HERALD_TEST_PG_URL, always in CI) each
// call creates `herald_t_<random>` on the server of the given URL, returns a URL pointing at it and
// cleanup() drops it WITH (FORCE). Test files then run in parallel without seeing each other.
//
// PGlite (laptop fallback, see test/setup/pg-global.ts) has a single database and a single session,
// so isolation there is by taking turns: freshPgUrl() waits for a lock row held by at most one test
// file at a time (across vitest's worker processes), drops any leftover `herald` schema and returns
// the shared URL; cleanup() drops schema `herald` CASCADE, resets session state and releases the lock.
// PostgreSQL test files thus run one after another on PGlite. The wait counts against the hook's
// timeout (60 s by default): freshPgUrl gives up after `lockTimeoutMs` (50 s) with a clear error;
// pass a larger value together with a larger hook timeout, e.g. beforeAll(fn, 300_000), if a
// PostgreSQL test file runs longer than that.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { inject } from 'vitest';

export interface FreshPg {
  /** Connection URL of a database this test file owns (or, on PGlite, holds exclusively). */
  url: string;
  /** Drops the database (or the `herald` schema on PGlite). Idempotent. Close your pools first. */
  cleanup(): Promise<void>;
}

export interface FreshPgOptions {
  /** PGlite only: how long to wait for another test file to release the database. */
  lockTimeoutMs?: number;
}

const LOCK_TABLE = 'public.herald_test_pglite_lock';

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {}); // reported through the failing query instead of crashing the worker
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function freshServerDatabase(baseUrl: string): Promise<FreshPg> {
  const name = `herald_t_${randomBytes(6).toString('hex')}`;
  await withClient(baseUrl, (c) => c.query(`create database ${quoteIdent(name)}`));
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  let done = false;
  return {
    url: url.toString(),
    async cleanup() {
      if (done) return;
      done = true;
      await withClient(baseUrl, (c) => c.query(`drop database if exists ${quoteIdent(name)} with (force)`));
    },
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let heldHere = false; // this worker process already holds the PGlite lock

async function resetPglite(c: pg.Client): Promise<void> {
  await c.query('drop schema if exists herald cascade');
  // Session state is shared by every connection to PGlite: SET, temp tables, prepared statements.
  await c.query('discard all');
}

async function freshPgliteDatabase(url: string, lockTimeoutMs: number): Promise<FreshPg> {
  if (heldHere) {
    throw new Error('freshPgUrl() on PGlite: this test file already holds the database; call cleanup() first');
  }
  const holder = `${process.pid}:${randomBytes(4).toString('hex')}`;
  const deadline = Date.now() + lockTimeoutMs;
  await withClient(url, async (c) => {
    await c.query(
      `create table if not exists ${LOCK_TABLE} (id int primary key, holder text not null, pid int not null, acquired_at timestamptz not null default now())`,
    );
    for (;;) {
      const got = await c.query(
        `insert into ${LOCK_TABLE} (id, holder, pid) values (1, $1, $2) on conflict (id) do nothing returning holder`,
        [holder, process.pid],
      );
      if (got.rowCount === 1) break;
      const cur = await c.query<{ holder: string; pid: number }>(`select holder, pid from ${LOCK_TABLE} where id = 1`);
      const row = cur.rows[0];
      if (row && !processAlive(row.pid)) {
        // The holder's worker died without cleanup(): take the lock over.
        await c.query(`delete from ${LOCK_TABLE} where id = 1 and holder = $1`, [row.holder]);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `freshPgUrl(): PGlite is still held by another test file (${row?.holder ?? '?'}) after ${lockTimeoutMs} ms. ` +
            'PGlite runs PostgreSQL test files one at a time: raise lockTimeoutMs and the hook timeout, ' +
            'or test against a real server with HERALD_TEST_PG_URL.',
        );
      }
      await sleep(100);
    }
    heldHere = true;
    try {
      await resetPglite(c); // leftovers from a file that died holding the lock
    } catch (err) {
      heldHere = false;
      await c.query(`delete from ${LOCK_TABLE} where id = 1 and holder = $1`, [holder]);
      throw err;
    }
  });
  let done = false;
  return {
    url,
    async cleanup() {
      if (done) return;
      done = true;
      try {
        await withClient(url, resetPglite);
      } finally {
        heldHere = false;
        await withClient(url, (c) => c.query(`delete from ${LOCK_TABLE} where id = 1 and holder = $1`, [holder]));
      }
    },
  };
}

/** A PostgreSQL database for this test file; see the comment at the top of this file. */
export async function freshPgUrl(options: FreshPgOptions = {}): Promise<FreshPg> {
  const url = inject('pgUrl');
  return inject('pgKind') === 'pglite'
    ? freshPgliteDatabase(url, options.lockTimeoutMs ?? 50_000)
    : freshServerDatabase(url);
}
