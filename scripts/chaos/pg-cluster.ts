/**
 * A throwaway PostgreSQL cluster in a temp dir, on a free port, that the restart scenario can
 * restart under herald (`pg_ctl restart -m fast`). initdb refuses to run as root, so as root the
 * binaries run as user postgres (`runuser -u postgres --`) in a dir chowned to it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** The newest /usr/lib/postgresql/N/bin with pg_ctl, or CHAOS_PG_BIN. */
export function pgBinDir(): string {
  if (process.env.CHAOS_PG_BIN) return process.env.CHAOS_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries (pg_ctl, initdb) under /usr/lib/postgresql; set CHAOS_PG_BIN');
  return join(root, versions[0]!, 'bin');
}

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL binary, as user postgres when we are root. */
export async function pgBinary(name: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const bin = join(pgBinDir(), name);
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const { stdout } = await run(file, argv, { timeout: timeoutMs });
  return stdout;
}

export class PgCluster {
  private running = false;

  private constructor(readonly dataDir: string, readonly port: number, private readonly logFile: string) {}

  /** initdb (trust auth, user postgres) and start, in `dir` (created, chowned to postgres as root). */
  static async start(dir: string): Promise<PgCluster> {
    mkdirSync(dir, { recursive: true });
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dir, uid, gid);
    }
    const dataDir = join(dir, 'data');
    await pgBinary('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'], 120_000);
    const cluster = new PgCluster(dataDir, await freePort(), join(dir, 'postgres.log'));
    await cluster.pgCtl('start');
    cluster.running = true;
    return cluster;
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** A fast restart: sessions are terminated (57P01), the server is back when this resolves. */
  async restart(): Promise<void> {
    await this.pgCtl('restart', ['-m', 'fast']);
  }

  /** Idempotent; `immediate` so a stuck client never holds the cleanup up. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await pgBinary('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop']).catch(() => undefined);
  }

  private async pgCtl(action: 'start' | 'restart', extra: string[] = []): Promise<void> {
    const options = `-p ${this.port} -k ${join(this.dataDir, '..')} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    await pgBinary('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-o', options, '-w', '-t', '60', ...extra, action]);
  }
}
