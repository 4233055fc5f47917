/**
 * What an earlier run of the suite left behind when it was itself killed -9: its temp dir (its pid
 * in `owner.pid`), herald processes it had started (`children.pids`), a throwaway cluster still
 * running in it, databases `herald_chaos_<pid>_…` on the local server. Reaped when that pid is gone.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgBinary } from './pg-cluster.js';
import { dropDatabase, withClient } from './warehouse.js';

export const TEMP_PREFIX = 'herald-chaos-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isHerald(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('herald.js');
  } catch {
    return false;
  }
}

export async function reapStale(pgAdminUrl: string | null): Promise<string[]> {
  const reaped: string[] = [];
  for (const entry of readdirSync(tmpdir()).filter((e) => e.startsWith(TEMP_PREFIX))) {
    const dir = join(tmpdir(), entry);
    const owner = Number(readFileSafe(join(dir, 'owner.pid')));
    if (owner && alive(owner)) continue;
    for (const pid of readFileSafe(join(dir, 'children.pids')).split('\n').map(Number).filter(Boolean)) {
      if (alive(pid) && isHerald(pid)) process.kill(pid, 'SIGKILL');
    }
    for (const sub of existsSync(dir) ? readdirSync(dir) : []) {
      const data = join(dir, sub, 'pg', 'data');
      if (existsSync(join(data, 'postmaster.pid'))) await pgBinary('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
    reaped.push(dir);
  }
  if (pgAdminUrl) {
    try {
      const names = await withClient(pgAdminUrl, async (c) => (await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'herald_chaos_%'")).rows.map((r) => r.datname));
      for (const name of names) {
        const pid = Number(/^herald_chaos_(\d+)_/.exec(name)?.[1]);
        if (pid && alive(pid)) continue;
        await dropDatabase(pgAdminUrl, name);
        reaped.push(`database ${name}`);
      }
    } catch {
      // the server is not there: the postgres engine will say so
    }
  }
  return reaped;
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
