/**
 * The CLI's surface, command by command: --help describes every option and exits 0, --version
 * prints package.json's version, an unknown option or a missing argument is a usage error (exit 2)
 * naming it; --json gives one JSON document on stdout (`run` checked in a child process, as a
 * scheduler reads it); validate keeps going past a failed template listing and says what it
 * skipped; SQL errors keep LINE and caret on both engines; check tries ADA for real.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli.js';
import { startCli } from './support/cli-process.js';

const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
const PG_URL = process.env.HERALD_TEST_PG_URL;

let server: Server;
let port: number;
let answer: (req: IncomingMessage, res: ServerResponse) => void;
const seen: { method: string; url: string; auth: string; body: string }[] = [];
let dir: string;
let stdout: string[];
let stderr: string[];
const startCwd = process.cwd();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: String(req.headers.authorization ?? ''), body });
      answer(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  seen.length = 0;
  answer = (_req, res) => void res.writeHead(500).end('{}');
  dir = mkdtempSync(join(tmpdir(), 'herald-cli-commands-'));
  process.chdir(dir);
  config('');
  vi.stubEnv('HERALD_CONFIG', join(dir, 'herald.yaml'));
  vi.stubEnv('HERALD_CACHE_DIR', join(dir, 'cache'));
  vi.stubEnv('HERALD_LOG_LEVEL', 'silent');
  stdout = [];
  stderr = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void stdout.push(a.map(String).join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(a.map(String).join(' ')));
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (stdout.push(String(c)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (stderr.push(String(c)), true));
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  process.chdir(startCwd);
  rmSync(dir, { recursive: true, force: true });
});

function config(providers: string, warehouse = `duckdb:${join(dir, 'w.duckdb')}`): void {
  writeFileSync(join(dir, 'herald.yaml'), `warehouses: { default: { url: "${warehouse}" } }\nproviders:\n  sandbox: { latency_ms: 0, max_event_delay_ms: 0 }\n${providers}`);
}

async function herald(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const from = { out: stdout.length, err: stderr.length };
  const code = await main(argv);
  return { code, out: stdout.slice(from.out).join('\n'), err: stderr.slice(from.err).join('\n') };
}

const SEGMENT = "SELECT * FROM (VALUES ('c1', '+12015550123', 'Ann', true)) t(customer_id, phone, first_name, whatsapp_opt_in)";
function job(file: string, o: { provider?: string; query?: string; body?: string } = {}): string {
  writeFileSync(file, `name: cli_commands
source: { query: ${JSON.stringify(o.query ?? SEGMENT)} }
audience: { key: customer_id, phone: phone, default_region: JP, consent: whatsapp_opt_in }
message:
  provider: ${o.provider ?? 'sandbox'}
  sender: "15550001234"
  template: { name: welcome_back, language: ja }
  body: ${o.body ?? '[ { column: first_name } ]'}
delivery: { rate_per_second: 5 }
`);
  return file;
}

/** Each command as typed, with options its help must describe. */
const COMMANDS: { argv: string[]; options: string[] }[] = [
  { argv: ['run'], options: ['--dry-run', '--limit <n>', '--run-key <key>', '--resend-unknown', '--json'] },
  { argv: ['validate'], options: ['--json'] },
  { argv: ['check'], options: ['--json'] },
  { argv: ['report'], options: ['--run <id>', '--job <name>', '--format <format>', '--output <file>', '--warehouse <name>', '--json'] },
  { argv: ['templates', 'list'], options: ['--provider <name>', '--sender <id>', '--refresh', '--json'] },
  { argv: ['infobip', 'share-waba'], options: ['--json'] },
  { argv: ['serve'], options: ['--port <n>', '--jobs <dir>'] },
  { argv: ['worker'], options: ['--jobs <dir>', '--parts <n>'] },
  { argv: ['import', 'ada-log'], options: ['--map <field=Header>', '--timezone <zone>', '--warehouse <name>', '--json'] },
];

describe('--help and --version', () => {
  it.each(COMMANDS)('herald $argv --help describes every option and exits 0', async ({ argv, options }) => {
    const { code, out } = await herald(...argv, '--help');
    expect(code).toBe(0);
    expect(out).toContain(`Usage: herald ${argv.join(' ')}`);
    for (const o of options) {
      // Each option on its own line with a description after it.
      expect(out).toMatch(new RegExp(`^\\s+${o.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+\\S.{10,}`, 'm'));
    }
    expect(out).toMatch(/^\s+-h, --help\s+describe the command and its options/m);
  });

  it('herald --help lists every command; herald --version prints the package version', async () => {
    const help = await herald('--help');
    expect(help.code).toBe(0);
    for (const c of ['run', 'validate', 'check', 'report', 'templates', 'infobip', 'serve', 'worker', 'import']) expect(help.out).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
    expect(help.out).toContain('Exit codes: 0 done, 1 run aborted, 2 usage or config error, 3');
    for (const flag of ['--version', '-V']) {
      const v = await herald(flag);
      expect(v.code).toBe(0);
      expect(v.out.trim()).toBe(VERSION);
    }
  });

  it('herald help <command> is the same as --help', async () => {
    const { code, out } = await herald('help', 'run');
    expect(code).toBe(0);
    expect(out).toContain('Usage: herald run [options] <job>');
  });
});

describe('usage errors exit 2 and name what is wrong', () => {
  it.each(COMMANDS)('herald $argv --bogus', async ({ argv }) => {
    const { code, err } = await herald(...argv, '--bogus');
    expect(code).toBe(2);
    expect(err).toContain(`herald ${argv.join(' ')}: unknown option "--bogus"`);
    expect(err).toContain(`usage: herald ${argv.join(' ')} [options]`);
    expect(err).toContain(`"herald ${argv.join(' ')} --help" describes every option`);
  });

  it('a near-miss option is suggested; a missing option value and an extra argument are named', async () => {
    expect((await herald('run', 'job.yaml', '--dryrun')).err).toContain('(Did you mean --dry-run?)');
    const noValue = await herald('run', 'job.yaml', '--limit');
    expect(noValue.code).toBe(2);
    expect(noValue.err).toContain('option "--limit <n>" argument missing');
    const extra = await herald('check', 'extra');
    expect(extra.code).toBe(2);
    expect(extra.err).toContain('herald check: too many arguments');
    const share = await herald('infobip', 'share-waba');
    expect(share.code).toBe(2);
    expect(share.err).toContain('missing required argument "waba-id"');
  });

  it('a group without its subcommand, and an unknown command, exit 2', async () => {
    expect((await herald('templates')).code).toBe(2);
    const unknown = await herald('rnu');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('herald: unknown command "rnu"');
    expect(unknown.err).toContain('(Did you mean run?)');
  });

  it('under --json a usage error is also one JSON document on stdout', async () => {
    const { code, out } = await herald('run', 'job.yaml', '--json', '--bogus');
    expect(code).toBe(2);
    expect(JSON.parse(out)).toEqual({ ok: false, exit_code: 2, error: 'unknown option "--bogus"', problems: [] });
    const missing = await herald('run', 'missing.yaml', '--json');
    expect(missing.code).toBe(2);
    const doc = JSON.parse(missing.out) as { ok: boolean; problems: { file: string; message: string }[] };
    expect(doc.ok).toBe(false);
    expect(doc.problems[0]).toMatchObject({ file: 'missing.yaml' });
  });
});

describe('herald run --json in a child process', () => {
  it('stdout is exactly one JSON document; the funnel table is on stderr', async () => {
    job(join(dir, 'job.yaml'));
    const cli = startCli(['run', join(dir, 'job.yaml'), '--dry-run', '--json'], { HERALD_CONFIG: join(dir, 'herald.yaml'), HERALD_CACHE_DIR: join(dir, 'cache') });
    let out = '';
    let err = '';
    cli.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    cli.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    expect(await cli.exited, cli.output()).toBe(0);
    expect(out.endsWith('\n')).toBe(true);
    expect(out.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(out)).toMatchObject({ job: 'cli_commands', dry_run: true, status: 'succeeded', exit_code: 0, counts: { audience: 1, planned: 1 } });
    expect(err).toContain('(dry run)');
  });
});

describe('herald validate', () => {
  it('a failing template listing: SQL and columns are still checked, and the skipped check is named', async () => {
    config(`  meta: { base_url: "http://127.0.0.1:${port}", graph_version: v24.0, access_token: T, waba_id: WABA1 }\n`);
    answer = (_req, res) => void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"down","code":2}}');
    job('cols.yaml', { provider: 'meta', body: '[ { column: first_name }, { column: points } ]' });
    job('sql.yaml', { provider: 'meta', query: 'SELECT *\nFROM no_such_table' });
    const { code, out, err } = await herald('validate', 'cols.yaml', 'sql.yaml');
    expect(code).toBe(2);
    expect(seen.some((r) => r.url.startsWith('/v24.0/WABA1/message_templates'))).toBe(true);
    expect(out).toMatch(/^bad cols\.yaml\n {4}template not checked: listing meta's templates failed: .+$/m);
    expect(out).toMatch(/^bad sql\.yaml\n {4}template not checked: .+\n {4}columns not checked: the SQL did not compile$/m);
    expect(err).toContain('cols.yaml at message.body.1.column: column "points" is not in the result');
    expect(err).toContain('sql.yaml at source.query: SQL error: Catalog Error: Table with name no_such_table does not exist!');

    const json = await herald('validate', 'cols.yaml', '--json');
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.out) as { ok: boolean; files: { file: string; ok: boolean; problems: { path: string }[]; skipped: string[] }[] };
    expect(doc.ok).toBe(false);
    expect(doc.files).toHaveLength(1);
    expect(doc.files[0]!.problems.map((p) => p.path)).toEqual(['message.body.1.column']);
    expect(doc.files[0]!.skipped).toEqual([expect.stringMatching(/^template not checked: listing meta's templates failed/)]);
  });

  it('a good job under --json: {ok: true}, exit 0', async () => {
    job('good.yaml');
    const { code, out } = await herald('validate', 'good.yaml', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ ok: true, files: [{ file: 'good.yaml', ok: true, problems: [], skipped: [] }] });
  });
});

/** A syntax error on the segment's third line, after a :param on the first (bound as $1). */
const BAD_SQL = "SELECT customer_id, phone, first_name, whatsapp_opt_in\nFROM (VALUES ('c1', '+12015550123', 'Ann', true)) t(customer_id, phone, first_name, whatsapp_opt_in)\nWHERE customer_id <> :skip AND AND true";

describe.each([
  { engine: 'DuckDB', url: () => `duckdb:${join(dir, 'w.duckdb')}` },
  ...(PG_URL ? [{ engine: 'PostgreSQL', url: () => PG_URL }] : []),
])('SQL errors keep LINE and caret: $engine', ({ url }) => {
  it('validate and run show the line of the segment and a caret under the error', async () => {
    config('', url());
    writeFileSync('segment.sql', BAD_SQL);
    writeFileSync('job.yaml', readFileSync(job('tmp.yaml'), 'utf8')
      .replace(/source: .*/, 'source: { sql: segment.sql, params: { skip: c9 } }'));
    for (const argv of [['validate', 'job.yaml'], ['run', 'job.yaml', '--dry-run']]) {
      const { code, err } = await herald(...argv);
      expect(code, err).toBe(2);
      expect(err).toContain('job.yaml at source.sql: SQL error in segment.sql: ');
      const lines = err.split('\n');
      const at = lines.findIndex((l) => l.trimStart().startsWith('LINE 3: WHERE customer_id <> $1 AND AND true'));
      expect(at, err).toBeGreaterThan(0);
      // The caret sits under the second AND.
      const line = lines[at]!;
      expect(lines[at + 1]!.indexOf('^')).toBe(line.indexOf('AND true'));
    }
  });
});

describe('herald check: ADA', () => {
  const ada = () => config(`  ada: { base_url: "http://127.0.0.1:${port}/prod", api_key: ada-key }\n`);

  it('reachable and the key accepted: an empty send answered 400, nothing sent', async () => {
    ada();
    answer = (_req, res) => void res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"to is required"}');
    const { code, out } = await herald('check');
    expect(code).toBe(0);
    expect(out).toMatch(/^ok\s+provider ada\s+POST http:\/\/127\.0\.0\.1:\d+\/prod\/message reachable, API key accepted \(an empty send answered HTTP 400 .*\); sender account and templates not checked/m);
    expect(seen).toEqual([{ method: 'POST', url: '/prod/message', auth: 'Bearer ada-key', body: '{"platform":"WA"}' }]);
  });

  it('a refused key is a failure, exit 1; --json says so', async () => {
    ada();
    answer = (_req, res) => void res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Unauthorized"}');
    const { code, out } = await herald('check', '--json');
    expect(code).toBe(1);
    const doc = JSON.parse(out) as { ok: boolean; checks: { what: string; status: string; detail: string }[] };
    expect(doc.ok).toBe(false);
    expect(doc.checks.find((c) => c.what === 'provider ada')).toMatchObject({ status: 'fail', detail: expect.stringContaining('ADA refused the API key (HTTP 401') });
    expect(doc.checks.find((c) => c.what === 'warehouse default')).toMatchObject({ status: 'ok' });
  });

  it('an unreachable base URL is a failure, exit 1', async () => {
    config('  ada: { base_url: "http://127.0.0.1:1/prod", api_key: ada-key }\n');
    const { code, out } = await herald('check');
    expect(code).toBe(1);
    expect(out).toMatch(/^FAIL\s+provider ada\s+POST http:\/\/127\.0\.0\.1:1\/prod\/message unreachable: /m);
  });

  it('API Gateway\'s "Missing Authentication Token" is a wrong path, not a wrong key', async () => {
    ada();
    answer = (_req, res) => void res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"Missing Authentication Token"}');
    const { code, out } = await herald('check');
    expect(code).toBe(1);
    expect(out).toMatch(/FAIL\s+provider ada\s+.*no such route .*check providers\.ada\.base_url and send_path/);
  });
});
