/** `herald serve` through the CLI: flags checked, listens, answers /healthz, stops on SIGINT. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createServer } from 'node:net';
import { main } from '../../src/cli.js';

describe('herald serve (CLI)', () => {
  let dir: string;
  let saved: Record<string, string | undefined>;
  const stderr: string[] = [];
  beforeEach(() => {
    saved = { HERALD_CONFIG: process.env.HERALD_CONFIG, HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL };
    dir = mkdtempSync(join(tmpdir(), 'herald-serve-'));
    writeFileSync(join(dir, 'herald.yaml'), `warehouses: { default: { url: "duckdb:${join(dir, 'w.duckdb')}" } }\nserver: { host: 127.0.0.1 }\n`);
    process.env.HERALD_CONFIG = join(dir, 'herald.yaml');
    process.env.HERALD_LOG_LEVEL = 'silent';
    stderr.length = 0;
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(a.map(String).join(' ')));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects a bad port or an extra argument with exit 2', async () => {
    expect(await main(['serve', '--port', 'http'])).toBe(2);
    expect(await main(['serve', 'now'])).toBe(2);
  });

  it('listens on --port, serves /healthz, and exits 0 on SIGINT', async () => {
    // It announces itself only as a pino line (stderr is JSON lines alone: stderr-json.test.ts), so
    // the test picks the port.
    const port = await freePort();
    const exit = main(['serve', '--port', String(port)]);
    const url = `http://127.0.0.1:${port}`;
    const health = await vi.waitFor(async () => {
      const r = await fetch(`${url}/healthz`);
      expect(r.status).toBe(200);
      return r;
    }, { timeout: 10_000, interval: 50 });
    expect(await health.json()).toMatchObject({ status: 'ok' });
    expect(stderr).toEqual([]); // nothing printed beside the (silenced) logs
    process.emit('SIGINT');
    expect(await exit).toBe(0);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
