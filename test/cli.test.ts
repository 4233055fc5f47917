/**
 * The CLI in-process: `main(argv)` with a temp working directory holding the job, SQL and config
 * files, and HERALD_CONFIG / HERALD_WAREHOUSE_URL pointing into it. Bad input must exit 2 with a
 * message naming the file and the field, and write nothing to the warehouse.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { main } from '../src/cli.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb.warehouse.js';

const ENV_KEYS = ['HERALD_CONFIG', 'HERALD_WAREHOUSE_URL', 'HERALD_LOG_LEVEL', 'NOT_SET_VAR'] as const;

let dir: string;
let dbFile: string;
let startCwd: string;
let savedEnv: Record<string, string | undefined>;
let stdout: string[];
let stderr: string[];

beforeEach(() => {
  startCwd = process.cwd();
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
  process.chdir(dir);
  dbFile = join(dir, 'w.duckdb');
  writeFileSync('herald.yaml', stringify({
    warehouses: { default: { url: '${HERALD_WAREHOUSE_URL}' } },
    providers: { sandbox: { latency_ms: 0, max_event_delay_ms: 0, permanent_failure_ratio: 0, transient_failure_ratio: 0 } },
  }));
  process.env.HERALD_CONFIG = join(dir, 'herald.yaml');
  process.env.HERALD_WAREHOUSE_URL = `duckdb:${dbFile}`;
  process.env.HERALD_LOG_LEVEL = 'silent';
  delete process.env.NOT_SET_VAR;
  stdout = [];
  stderr = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void stdout.push(args.map(String).join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void stderr.push(args.map(String).join(' ')));
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (stdout.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
});

afterEach(() => {
  vi.restoreAllMocks();
  process.chdir(startCwd);
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  rmSync(dir, { recursive: true, force: true });
});

async function herald(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const from = { out: stdout.length, err: stderr.length };
  const code = await main(argv);
  return { code, out: stdout.slice(from.out).join('\n'), err: stderr.slice(from.err).join('\n') };
}

/** Rows in herald.runs and herald.sends; zeros when the warehouse file was never created. */
async function landed(): Promise<{ runs: number; sends: number }> {
  if (!existsSync(dbFile)) return { runs: 0, sends: 0 };
  const wh = await DuckDbWarehouse.open(dbFile);
  try {
    const [r] = await wh.query<{ n: number }>('SELECT count(*)::INTEGER AS n FROM herald.runs');
    const [s] = await wh.query<{ n: number }>('SELECT count(*)::INTEGER AS n FROM herald.sends');
    return { runs: Number(r?.n ?? 0), sends: Number(s?.n ?? 0) };
  } finally {
    await wh.close();
  }
}

async function sends(runId: string): Promise<{ row_key: string; recipient: string | null; status: string; reason: string | null }[]> {
  const wh = await DuckDbWarehouse.open(dbFile);
  try {
    return await wh.query('SELECT row_key, recipient, status, reason FROM herald.sends WHERE run_id = $1 ORDER BY row_key', [runId]);
  } finally {
    await wh.close();
  }
}

/** Six rows: three sendable (US, two JP mobiles), an invalid number, a JP landline, no consent. */
const SEGMENT = `SELECT * FROM (VALUES
  ('c1', '+12015550123', 'Ann', true),
  ('c2', '090-1234-5678', 'Ken', true),
  ('c3', '080-2345-6789', 'Yui', true),
  ('c4', '12345', 'Bad', true),
  ('c5', '03-1234-5678', 'Lan', true),
  ('c6', '070-3456-7890', 'Nob', false)
) t(customer_id, phone, first_name, whatsapp_opt_in)`;

type JobDoc = Record<string, Record<string, unknown> | string>;

function jobDoc(): JobDoc {
  return {
    name: 'cli_test',
    timezone: 'Asia/Tokyo',
    source: { warehouse: 'default', query: SEGMENT },
    audience: { key: 'customer_id', phone: 'phone', default_region: 'JP', consent: 'whatsapp_opt_in' },
    message: {
      provider: 'sandbox',
      sender: '15550001234',
      template: { name: 'welcome_back', language: 'ja' },
      body: [{ column: 'first_name' }],
    },
    delivery: { rate_per_second: 1000, dedupe: 'job' },
  };
}

function writeJob(file: string, edit: (job: JobDoc) => void = () => {}): string {
  const job = jobDoc();
  edit(job);
  writeFileSync(file, stringify(job));
  return file;
}

const section = (job: JobDoc, key: string) => job[key] as Record<string, unknown>;

/** Runs `herald run` on bad input: exit 2, the message names the file and the field, nothing landed. */
async function expectUsageError(argv: string[], ...mentions: (string | RegExp)[]): Promise<string> {
  const { code, err } = await herald(...argv);
  expect(code, err).toBe(2);
  for (const m of mentions) {
    if (typeof m === 'string') expect(err).toContain(m);
    else expect(err).toMatch(m);
  }
  expect(err).not.toContain('unexpected error');
  expect(await landed()).toEqual({ runs: 0, sends: 0 });
  return err;
}

describe('herald run: bad input exits 2, names the file and the field, writes nothing', () => {
  it('malformed YAML', async () => {
    writeFileSync('bad.yaml', 'name: cli_test\nsource:\n  query: "select 1\naudience: [\n');
    await expectUsageError(['run', 'bad.yaml'], 'bad.yaml:', 'invalid YAML');
  });

  it('unknown key, with a suggestion', async () => {
    writeJob('job.yaml', (j) => (section(j, 'audience').consnet = 'x'));
    await expectUsageError(['run', 'job.yaml'], 'job.yaml', 'at audience', 'unknown key "consnet"', 'did you mean "consent"?');
  });

  it('missing SQL file', async () => {
    writeJob('job.yaml', (j) => (j.source = { warehouse: 'default', sql: 'sql/nope.sql' }));
    await expectUsageError(['run', 'job.yaml'], 'job.yaml', 'at source.sql', 'SQL file "sql/nope.sql" not found');
  });

  it('SQL error (a table that does not exist), from a .sql file', async () => {
    writeFileSync('segment.sql', 'SELECT * FROM no_such_table');
    writeJob('job.yaml', (j) => (j.source = { warehouse: 'default', sql: 'segment.sql' }));
    await expectUsageError(['run', 'job.yaml'], 'segment.sql', 'SQL error', 'no_such_table');
  });

  it('SQL error in an inline query names the job file and source.query', async () => {
    writeJob('job.yaml', (j) => (section(j, 'source').query = 'SELECT * FROM no_such_table'));
    await expectUsageError(['run', 'job.yaml'], 'job.yaml at source.query', 'SQL error', 'no_such_table');
  });

  it('a column named in the job but absent from the result', async () => {
    writeJob('job.yaml', (j) => (section(j, 'message').body = [{ column: 'first_name' }, { column: 'points', type: 'number' }]));
    await expectUsageError(['run', 'job.yaml'], 'job.yaml', 'at message.body.1.column', 'column "points" is not in the result',
      'customer_id, phone, first_name, whatsapp_opt_in');
  });

  it('an unknown provider', async () => {
    writeJob('job.yaml', (j) => (section(j, 'message').provider = 'whatsapp'));
    await expectUsageError(['run', 'job.yaml'], 'job.yaml', 'at message.provider', /sandbox/);
  });

  it('a provider whose credentials are not set', async () => {
    writeJob('job.yaml', (j) => (section(j, 'message').provider = 'meta'));
    await expectUsageError(['run', 'job.yaml'], 'providers.meta.access_token', 'META_ACCESS_TOKEN is not set');
  });

  it('a missing environment variable in the job', async () => {
    writeJob('job.yaml', (j) => (section(j, 'message').sender = '${NOT_SET_VAR}'));
    await expectUsageError(['run', 'job.yaml'], 'job.yaml', 'at message.sender', 'environment variable NOT_SET_VAR is not set');
  });

  it('a :param without a value', async () => {
    writeJob('job.yaml', (j) => (section(j, 'source').query = `${SEGMENT} WHERE customer_id <> :skip`));
    await expectUsageError(['run', 'job.yaml'], 'job.yaml', 'at source.params', ':skip', 'skip: …');
  });

  it('--limit abc', async () => {
    writeJob('job.yaml');
    await expectUsageError(['run', 'job.yaml', '--limit', 'abc'], '--limit', '"abc" is not a positive whole number');
  });

  it('an unknown flag', async () => {
    writeJob('job.yaml');
    await expectUsageError(['run', 'job.yaml', '--dryrun'], '--dryrun', 'usage: herald');
  });

  it('an unknown command', async () => {
    await expectUsageError(['rnu', 'job.yaml'], 'unknown command "rnu"', 'usage: herald');
  });

  it('herald run with no job', async () => {
    await expectUsageError(['run'], 'herald run: missing required argument "job"', 'usage: herald run [options] <job>', 'e.g.   herald run jobs/demo.yaml');
  });

  it('a job file that does not exist', async () => {
    await expectUsageError(['run', 'jobs/missing.yaml'], 'jobs/missing.yaml', 'job file not found');
  });

  it('herald report --run x --job y', async () => {
    await expectUsageError(['report', '--run', 'x', '--job', 'y'], '--run and --job exclude each other');
  });

  it('no command at all prints the usage and exits 2; --help exits 0', async () => {
    expect((await herald()).code).toBe(2);
    const help = await herald('--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: herald');
  });
});

describe('herald validate', () => {
  it('prints ok / bad per file, lists every problem of the bad one, exits 2', async () => {
    writeJob('good.yaml');
    writeJob('bad.yaml', (j) => {
      j.name = 'Bad-Name';
      section(j, 'audience').consnet = 'x';
      section(j, 'message').sender = '${NOT_SET_VAR}';
    });
    writeJob('badsql.yaml', (j) => (section(j, 'message').body = [{ column: 'first_name' }, { column: 'points' }, { column: 'tier' }]));
    const { code, out, err } = await herald('validate', 'good.yaml', 'bad.yaml', 'badsql.yaml');
    expect(code).toBe(2);
    expect(out.split('\n')).toEqual(['ok  good.yaml', 'bad bad.yaml', 'bad badsql.yaml']);
    expect(err).toContain('bad.yaml:1 at name');
    expect(err).toContain('unknown key "consnet"');
    expect(err).toContain('badsql.yaml at message.body.1.column: column "points"');
    expect(err).toContain('badsql.yaml at message.body.2.column: column "tier"');
    expect(err).not.toContain('good.yaml');
    expect(await landed()).toEqual({ runs: 0, sends: 0 });
  });

  it('reports a missing env variable of an otherwise good job', async () => {
    writeJob('env.yaml', (j) => (section(j, 'message').sender = '${NOT_SET_VAR}'));
    const { code, out, err } = await herald('validate', 'env.yaml');
    expect(code).toBe(2);
    expect(out).toBe('bad env.yaml');
    expect(err).toContain('env.yaml:21 at message.sender: environment variable NOT_SET_VAR is not set');
  });

  it('exits 0 when every file is good', async () => {
    writeJob('a.yaml');
    writeFileSync('segment.sql', SEGMENT);
    writeJob('b.yaml', (j) => (j.source = { warehouse: 'default', sql: 'segment.sql' }));
    const { code, out, err } = await herald('validate', 'a.yaml', 'b.yaml');
    expect(code, err).toBe(0);
    expect(out.split('\n')).toEqual(['ok  a.yaml', 'ok  b.yaml']);
    expect(await landed()).toEqual({ runs: 0, sends: 0 });
  });

  it('a job asking ADA for more than its 5 messages per second is bad', async () => {
    writeFileSync('herald.yaml', stringify({
      warehouses: { default: { url: '${HERALD_WAREHOUSE_URL}' } },
      providers: { ada: { api_key: 'ada-test-key' } },
    }));
    writeJob('ada.yaml', (j) => {
      section(j, 'message').provider = 'ada';
      section(j, 'delivery').rate_per_second = 75;
    });
    const { code, out, err } = await herald('validate', 'ada.yaml');
    expect(code).toBe(2);
    expect(out).toBe('bad ada.yaml');
    expect(err).toContain('ada.yaml at delivery.rate_per_second: 75 messages per second is more than ada accepts from one sender (5/s)');
  });

  it('with no file exits 2', async () => {
    const { code, err } = await herald('validate');
    expect(code).toBe(2);
    expect(err).toContain('herald validate: missing required argument "job"');
  });
});

interface Summary {
  run_id: string;
  run_key: string;
  status: string;
  dry_run: boolean;
  already_finished: boolean;
  counts: Record<string, number>;
  exit_code: number;
}

function lastJsonLine(out: string): Summary {
  const lines = out.trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Summary;
}

describe('herald run --dry-run, then report', () => {
  it('lands planned rows for sendable rows and rejected/suppressed ones with reasons; --json summary; run keys', async () => {
    writeJob('job.yaml');
    const first = await herald('run', 'job.yaml', '--dry-run', '--run-key', 'k1', '--json');
    expect(first.code, first.err).toBe(0);
    const summary = lastJsonLine(first.out);
    expect(summary).toMatchObject({ run_key: 'k1', status: 'succeeded', dry_run: true, already_finished: false, exit_code: 0 });
    expect(summary.counts).toMatchObject({ audience: 6, planned: 3, rejected: 2, suppressed: 1, accepted: 0, failed: 0, unknown: 0 });
    // --json: stdout is the summary alone; the funnel table went to stderr.
    expect(first.out.trim().split('\n')).toHaveLength(1);
    expect(first.err).toContain('(dry run)');

    expect(await sends(summary.run_id)).toEqual([
      { row_key: 'c1', recipient: '+12015550123', status: 'planned', reason: null },
      { row_key: 'c2', recipient: '+819012345678', status: 'planned', reason: null },
      { row_key: 'c3', recipient: '+818023456789', status: 'planned', reason: null },
      { row_key: 'c4', recipient: null, status: 'rejected', reason: 'invalid_phone' },
      { row_key: 'c5', recipient: null, status: 'rejected', reason: 'not_mobile' },
      { row_key: 'c6', recipient: '+817034567890', status: 'suppressed', reason: 'no_consent' },
    ]);
    expect(await landed()).toEqual({ runs: 1, sends: 6 });

    // The same run key: the same run, nothing added.
    const again = await herald('run', 'job.yaml', '--dry-run', '--run-key', 'k1', '--json');
    expect(again.code, again.err).toBe(0);
    expect(lastJsonLine(again.out)).toMatchObject({ run_id: summary.run_id, already_finished: true, counts: summary.counts });
    expect(again.err).toContain(`run key k1 already finished as run ${summary.run_id}`);
    expect(await landed()).toEqual({ runs: 1, sends: 6 });

    // A dry run's key cannot be reused for a real run (nor the other way round).
    const real = await herald('run', 'job.yaml', '--run-key', 'k1');
    expect(real.code, real.err).toBe(2);
    expect(real.err).toContain('--run-key');
    expect(real.err).toContain('run key "k1" belongs to a dry run of cli_test');
    expect(await landed()).toEqual({ runs: 1, sends: 6 });

    // --limit caps the rows read.
    const limited = await herald('run', 'job.yaml', '--dry-run', '--limit', '2', '--json');
    expect(limited.code, limited.err).toBe(0);
    expect(lastJsonLine(limited.out).counts).toMatchObject({ audience: 2, planned: 2 });

    // report: json, csv, table, --output FILE; unknown format.
    const json = await herald('report', '--format', 'json', '--run', summary.run_id);
    expect(json.code, json.err).toBe(0);
    const report = JSON.parse(json.out) as { runs: Record<string, unknown>[]; reasons: Record<string, unknown>[] };
    expect(report.runs).toHaveLength(1);
    expect(report.runs[0]).toMatchObject({ run_id: summary.run_id, job: 'cli_test', run_key: 'k1', dry_run: true });
    expect(Number(report.runs[0]!.audience)).toBe(6);
    expect(Number(report.runs[0]!.planned)).toBe(3);
    expect(report.reasons.map((r) => `${String(r.status)}/${String(r.reason)}=${Number(r.count)}`).sort()).toEqual(
      ['planned/null=3', 'rejected/invalid_phone=1', 'rejected/not_mobile=1', 'suppressed/no_consent=1']);

    const csv = await herald('report', '--format', 'csv', '--run', summary.run_id);
    expect(csv.code, csv.err).toBe(0);
    const [header, row, ...rest] = csv.out.trimEnd().split('\n');
    expect(rest).toEqual([]);
    expect(header!.split(',')).toEqual(expect.arrayContaining(['run_id', 'job', 'audience', 'planned', 'rejected']));
    expect(row).toContain(summary.run_id);

    const table = await herald('report', '--run', summary.run_id);
    expect(table.code, table.err).toBe(0);
    expect(table.out).toContain(`run ${summary.run_id}`);
    expect(table.out).toMatch(/rejected\/invalid_phone\s+1/);

    const output = await herald('report', '--format', 'csv', '--run', summary.run_id, '--output', 'funnel.csv');
    expect(output.code, output.err).toBe(0);
    expect(output.out).toBe('');
    expect(output.err).toContain('wrote funnel.csv');
    expect(readFileSync(join(dir, 'funnel.csv'), 'utf8')).toBe(csv.out);

    const byJob = await herald('report', '--job', 'cli_test', '--format', 'json');
    expect(byJob.code, byJob.err).toBe(0);
    expect((JSON.parse(byJob.out) as { runs: unknown[] }).runs).toHaveLength(2);

    const xml = await herald('report', '--format', 'xml', '--run', summary.run_id);
    expect(xml.code).toBe(2);
    expect(xml.err).toContain('--format');
    expect(xml.err).toContain('unknown format "xml"');

    const none = await herald('report', '--run', 'no-such-run');
    expect(none.code).toBe(2);
    expect(none.err).toContain('no run matches');
  });

  it('a real run through the sandbox accepts the sendable rows and exits 0', async () => {
    writeJob('job.yaml');
    const { code, out, err } = await herald('run', 'job.yaml', '--json');
    expect(code, err).toBe(0);
    const summary = lastJsonLine(out);
    expect(summary).toMatchObject({ status: 'succeeded', dry_run: false, exit_code: 0 });
    expect(summary.counts).toMatchObject({ audience: 6, accepted: 3, rejected: 2, suppressed: 1, planned: 0 });
    // A dry run's run key cannot take over a real run's.
    const dry = await herald('run', 'job.yaml', '--dry-run', '--run-key', summary.run_key);
    expect(dry.code, dry.err).toBe(2);
    expect(dry.err).toContain(`belongs to a real run of cli_test`);
    expect(await landed()).toEqual({ runs: 1, sends: 6 });
  });

  it('--resend-unknown with --dry-run is a usage error', async () => {
    writeJob('job.yaml');
    await expectUsageError(['run', 'job.yaml', '--dry-run', '--resend-unknown'], '--resend-unknown');
  });
});

describe('herald check', () => {
  it('exits 0 and prints ok for a reachable DuckDB warehouse', async () => {
    const { code, out, err } = await herald('check');
    expect(code, err).toBe(0);
    expect(out).toMatch(/^ok\s+warehouse default\s+duckdb:/m);
    expect(out).toMatch(/^ok\s+provider sandbox/m);
  });

  it('exits 1 when the warehouse cannot be reached', async () => {
    process.env.HERALD_WAREHOUSE_URL = 'postgres://nobody@127.0.0.1:1/x';
    const { code, out } = await herald('check');
    expect(code).toBe(1);
    expect(out).toMatch(/^FAIL\s+warehouse default\s+.*127\.0\.0\.1/m);
  });

  it('exits 2 on a config file with an unknown key', async () => {
    writeFileSync('herald.yaml', stringify({ warehouses: { default: { url: '${HERALD_WAREHOUSE_URL}', pool: 3 } } }));
    const { code, err } = await herald('check');
    expect(code).toBe(2);
    expect(err).toContain('herald.yaml');
    expect(err).toContain('at warehouses.default');
    expect(err).toContain('unknown key "pool"');
  });
});
