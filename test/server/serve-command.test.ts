/** `herald serve` through the CLI: flags checked, listens, answers /healthz, stops on SIGINT. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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
    const exit = main(['serve', '--port', '0']);
    await vi.waitFor(() => expect(stderr.join('\n')).toMatch(/listening on http/), { timeout: 10_000 });
    const url = /listening on (http:\/\/\S+)/.exec(stderr.join('\n'))![1]!;
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    process.emit('SIGINT');
    expect(await exit).toBe(0);
  });
});
