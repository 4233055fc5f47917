/**
 * stderr is for log collectors: every line `herald serve` and `herald run` write there is one
 * pino JSON line (progress included, off a terminal), and a run logs "run finished" once. The
 * built CLI runs in a child process with stderr a pipe, as a container or a scheduler runs it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../support/cli-process.js';
import { writeJobs } from '../support/jobs-dir.js';

const TOKEN = 'stderr-json-token';

interface Child {
  exited: Promise<number | null>;
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
}

function herald(args: string[], cwd: string, env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, HERALD_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { exited, stderr: () => err, kill: (s) => child.kill(s) };
}

/** Every line parsed as JSON: a line that is not fails the test with the line in the message. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l !== '').map((line) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`not a JSON line on stderr: ${line}`);
    }
    expect(parsed).toMatchObject({ level: expect.any(Number), time: expect.any(Number), msg: expect.any(String) });
    return parsed as Record<string, unknown>;
  });
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, output: () => string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('stderr carries pino JSON lines only', () => {
  let dir: string;
  const env = () => ({ HERALD_CONFIG: join(dir, 'herald.yaml'), HERALD_API_TOKEN: TOKEN });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-stderr-'));
    writeJobs(join(dir, 'jobs'), 25);
    writeFileSync(join(dir, 'herald.yaml'), [
      `warehouses: { default: { url: "duckdb:${join(dir, 'w.duckdb')}" } }`,
      'server: { host: 127.0.0.1, api_token: "${HERALD_API_TOKEN}" }',
      'providers: { sandbox: { latency_ms: 0, max_event_delay_ms: 0, permanent_failure_ratio: 0, transient_failure_ratio: 0 } }',
    ].join('\n'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('herald serve: start, a run through the API, shutdown', async () => {
    const serve = herald(['serve', '--port', '0', '--jobs', join(dir, 'jobs')], dir, env());
    const url = await until('serve to listen', () => {
      const line = serve.stderr().split('\n').find((l) => l.includes('herald serve listening'));
      return line ? (JSON.parse(line) as { url: string }).url : undefined;
    }, serve.stderr);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const answer = await fetch(`${url}/runs`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ job: 'welcome_api', run_key: 'stderr-1' }) });
    expect(answer.status).toBe(202);
    const { run_id } = (await answer.json()) as { run_id: string };
    await until('the run to end', async () => {
      const v = (await (await fetch(`${url}/runs/${run_id}`, { headers: auth })).json()) as { status: string };
      return v.status === 'running' ? undefined : v;
    }, serve.stderr);
    await (await fetch(`${url}/metrics`)).text();
    serve.kill('SIGTERM');
    expect(await serve.exited).toBe(0);

    const lines = jsonLines(serve.stderr());
    expect(lines.filter((l) => l.msg === 'run finished' && l.run_id === run_id)).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'herald serve listening')).toBe(true);
  });

  it('herald run: logs and progress, one "run finished"', async () => {
    const run = herald(['run', join(dir, 'jobs', 'welcome.yaml'), '--run-key', 'stderr-cli-1'], dir, env());
    expect(await run.exited).toBe(0);
    const lines = jsonLines(run.stderr());
    expect(lines.filter((l) => l.msg === 'run finished')).toHaveLength(1);
    // Off a terminal, the progress of a run that sent is a log line too (at least its last one).
    expect(lines.find((l) => l.msg === 'progress')).toMatchObject({ progress: { job: 'welcome_api', rows: 25 } });
  });
});
