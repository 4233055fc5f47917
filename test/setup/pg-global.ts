// vitest globalSetup: decides which PostgreSQL (and Redis) the tests use and hands the URLs to every
// test file through `provide`/`inject` (see test/helpers/pg.ts).
//
// - HERALD_TEST_PG_URL set      → that server; it must answer `select 1` or the whole run fails.
// - unset, CI set               → error: CI must test against a real PostgreSQL (.ci/run sets it).
// - unset, developer laptop     → an in-memory PGlite (PostgreSQL compiled to WASM) served over TCP
//                                 by @electric-sql/pglite-socket on 127.0.0.1:<free port>.
//
// PGlite caveats (pglite 0.5 / pglite-socket 0.2, checked against its README and source):
// - PGlite is ONE database with ONE backend session. PGLiteSocketServer accepts several client
//   connections only when `maxConnections` > 1 (default 1: a second concurrent connection gets
//   "Too many connections" and node-postgres reports "Connection terminated unexpectedly"). We raise
//   it, so pools work, but the connections are multiplexed onto that single session:
//   * session state is shared: SET / search_path, temp tables, prepared statement names, advisory
//     locks (always granted: same session), LISTEN/NOTIFY;
//   * while one connection is inside a transaction, every other connection's queries wait until it
//     commits or rolls back. Code that holds a transaction on client A and awaits a query on client B
//     hangs (a test timeout) on PGlite, though it works on a real server.
//   * CREATE DATABASE succeeds but connecting to that name silently lands in `postgres`.
//   Hence test/helpers/pg.ts serializes PGlite users and cleans the `herald` schema instead of
//   creating a database per test file. Concurrency and locking semantics need the real server
//   (CI always has one; locally: HERALD_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test).
// - Starting PGlite takes ~3-4 s, paid once per `vitest run`.
import type { TestProject } from 'vitest/node';
import pg from 'pg';

export type PgKind = 'server' | 'pglite';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL URL for tests; use freshPgUrl() from test/helpers/pg.ts rather than this directly. */
    pgUrl: string;
    /** `server`: a real PostgreSQL (one database per test file); `pglite`: the in-process fallback. */
    pgKind: PgKind;
    /** Redis URL, or undefined when no Redis is available (Redis tests skip themselves). */
    redisUrl: string | undefined;
  }
}

// Plenty for pools in tests; they are multiplexed onto PGlite's single session anyway (see above).
const PGLITE_MAX_CONNECTIONS = 64;

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}

async function checkReachable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // A server dying mid-check emits 'error' on the client; without a listener that crashes the process.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    throw new Error(
      `HERALD_TEST_PG_URL=${redact(url)} is not reachable: ${(err as Error).message}. ` +
        'Start PostgreSQL or fix the URL (unset it to use the in-process PGlite on a laptop).',
      { cause: err },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let teardown = async (): Promise<void> => {};

  const givenPg = process.env.HERALD_TEST_PG_URL;
  if (givenPg) {
    await checkReachable(givenPg);
    project.provide('pgUrl', givenPg);
    project.provide('pgKind', 'server');
    console.log(`[herald tests] PostgreSQL: ${redact(givenPg)}`);
  } else if (process.env.CI) {
    throw new Error(
      'CI needs HERALD_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/test): ' +
        'the PGlite fallback is for laptops only. .ci/run sets it.',
    );
  } else {
    // Imported lazily so runs against a real server never load the WASM build.
    const { PGlite } = await import('@electric-sql/pglite');
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    const db = await PGlite.create();
    const server = new PGLiteSocketServer({
      db,
      host: '127.0.0.1',
      port: 0, // the OS picks a free port; getServerConn() reports it after start()
      maxConnections: PGLITE_MAX_CONNECTIONS,
    });
    await server.start();
    const url = `postgres://postgres@${server.getServerConn()}/postgres`;
    project.provide('pgUrl', url);
    project.provide('pgKind', 'pglite');
    console.log(
      `[herald tests] HERALD_TEST_PG_URL unset: using in-process PGlite at ${url} ` +
        '(single session; PostgreSQL tests run one file at a time)',
    );
    teardown = async () => {
      await server.stop();
      await db.close();
    };
  }

  const redisUrl = process.env.HERALD_TEST_REDIS_URL || (process.env.CI ? 'redis://127.0.0.1:6379' : undefined);
  project.provide('redisUrl', redisUrl);
  if (redisUrl) {
    console.log(`[herald tests] Redis: ${redact(redisUrl)}`);
  } else {
    console.log('[herald tests] HERALD_TEST_REDIS_URL unset: Redis tests will be skipped');
  }

  return teardown;
}
