import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, loadJob, requireSection, warehouseUrl } from '../src/config/load.js';
import { parseYaml } from '../src/config/yaml-file.js';
import { ConfigError, type Problem } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(join(dir, 'segment.sql'), 'select customer_id, phone from customers where region = :region\n');

// Line numbers below refer to this text; keep it in sync with the assertions.
const JOB = `name: welcome_back
timezone: Asia/Tokyo
source:
  sql: segment.sql
audience:
  key: customer_id
  phone: phone
  default_region: JP
  consent: whatsapp_opt_in
message:
  provider: meta
  sender: \${META_PHONE_NUMBER_ID}
  template: { name: welcome_back, language: ja }
  body:
    - { column: first_name }
    - { column: points, type: number }
delivery:
  rate_per_second: 80
`;

const ENV = { META_PHONE_NUMBER_ID: '109876543210' };

let fileCount = 0;
function writeJob(text: string): string {
  const file = join(dir, `job_${fileCount++}.yaml`);
  writeFileSync(file, text);
  return file;
}

function problemsOf(fn: () => unknown): Problem[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

function jobProblems(text: string, env: NodeJS.ProcessEnv = ENV): { file: string; problems: Problem[] } {
  const file = writeJob(text);
  return { file, problems: problemsOf(() => loadJob(file, env)) };
}

function edit(from: string, to: string): string {
  expect(JOB).toContain(from);
  return JOB.replace(from, to);
}

describe('loadJob', () => {
  it('loads a valid job, interpolates ${VAR} and reads the SQL file next to it', () => {
    const file = writeJob(JOB);
    const loaded = loadJob(file, ENV);
    expect(loaded.file).toBe(file);
    expect(loaded.sql).toBe('select customer_id, phone from customers where region = :region\n');
    expect(loaded.sqlOrigin).toBe('segment.sql');
    expect(loaded.job).toEqual({
      name: 'welcome_back',
      timezone: 'Asia/Tokyo',
      source: { warehouse: 'default', sql: 'segment.sql', params: {} },
      audience: { key: 'customer_id', phone: 'phone', default_region: 'JP', consent: 'whatsapp_opt_in' },
      message: {
        provider: 'meta',
        sender: '109876543210',
        template: { name: 'welcome_back', language: 'ja' },
        body: [{ column: 'first_name', type: 'text' }, { column: 'points', type: 'number' }],
        buttons: [],
      },
      delivery: { rate_per_second: 80, dedupe: 'job', retry_failed_after: '7d', unknown_resend_after: '15m', marketing_not_delivered_in: ['US'], over_messaging_limit: 'refuse' },
    });
  });

  it('takes inline SQL from source.query', () => {
    const file = writeJob(edit('  sql: segment.sql', '  query: select 1 as customer_id'));
    const loaded = loadJob(file, ENV);
    expect(loaded.sql).toBe('select 1 as customer_id');
    expect(loaded.sqlOrigin).toBe(`${file} source.query`);
  });

  it('names a job file that does not exist', () => {
    const file = join(dir, 'nope.yaml');
    expect(problemsOf(() => loadJob(file, ENV))).toEqual([
      { file, path: '', message: 'job file not found', hint: 'check the path; relative paths start from the working directory' },
    ]);
  });

  it('malformed YAML is a ConfigError naming the file, with a hint', () => {
    const { file, problems } = jobProblems(edit('  phone: phone', '  phone: "phone'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      file,
      path: '',
      message: 'invalid YAML: Missing closing "quote',
      hint: 'check indentation, quoting and that every key is followed by ": "',
    });
  });

  it('duplicate keys are invalid YAML', () => {
    const { file, problems } = jobProblems(`${JOB}name: again\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file, path: '', message: 'invalid YAML: Map keys must be unique' });
  });

  it('an unknown top-level key gets a "did you mean" hint', () => {
    const { file, problems } = jobProblems(edit('audience:\n', 'audiance:\n'));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatchObject({ file, path: 'audience', message: 'missing required key "audience"', hint: 'expected object' });
    expect(problems[1]).toMatchObject({ file, path: '', message: 'unknown key "audiance"', hint: 'did you mean "audience"?' });
  });

  it('an unknown key with no near miss says to remove it', () => {
    const { file, problems } = jobProblems(`colour: red\n${JOB}`);
    expect(problems).toEqual([
      { file, path: '', line: 1, message: 'unknown key "colour"', hint: 'remove it; see schema/job.schema.json for the allowed keys' },
    ]);
  });

  it('an unknown nested key gets a "did you mean" hint, its path and line', () => {
    const { file, problems } = jobProblems(edit('rate_per_second: 80', 'rate_per_secnd: 80'));
    expect(problems).toEqual([
      { file, path: 'delivery', line: 18, message: 'unknown key "rate_per_secnd"', hint: 'did you mean "rate_per_second"?' },
    ]);
  });

  it('an unknown key inside a body parameter', () => {
    const { file, problems } = jobProblems(edit('{ column: first_name }', '{ colum: first_name }'));
    expect(problems).toEqual([
      { file, path: 'message.body.0', line: 15, message: 'unknown key "colum"', hint: 'did you mean "column"?' },
      { file, path: 'message.body.0', line: 15, message: 'give exactly one of "column" or "value"' },
    ]);
  });

  it('a missing required key', () => {
    const { file, problems } = jobProblems(edit('  consent: whatsapp_opt_in\n', ''));
    expect(problems).toEqual([
      { file, path: 'audience.consent', line: 6, message: 'missing required key "consent"', hint: 'expected string' },
    ]);
  });

  it('a value out of range', () => {
    const { file, problems } = jobProblems(edit('rate_per_second: 80', 'rate_per_second: 5000'));
    expect(problems).toEqual([
      { file, path: 'delivery.rate_per_second', line: 18, message: 'Too big: expected number to be <=1000' },
    ]);
  });

  it('an unknown provider', () => {
    const { file, problems } = jobProblems(edit('provider: meta', 'provider: twilio'));
    expect(problems).toEqual([
      { file, path: 'message.provider', line: 11, message: 'Invalid option: expected one of "meta"|"infobip"|"ada"|"sandbox"' },
    ]);
  });

  it.each(['XX', 'jp', 'JPN'])('a bad default_region %s', (region) => {
    const { file, problems } = jobProblems(edit('default_region: JP', `default_region: ${region}`));
    expect(problems).toEqual([
      { file, path: 'audience.default_region', line: 8, message: 'a two-letter region code such as JP, US or GB' },
    ]);
  });

  it('both sql and query', () => {
    const { file, problems } = jobProblems(edit('  sql: segment.sql', '  sql: segment.sql\n  query: select 1'));
    expect(problems).toEqual([{ file, path: 'source', line: 4, message: 'give exactly one of "sql" or "query"' }]);
  });

  it('neither sql nor query', () => {
    const { file, problems } = jobProblems(edit('  sql: segment.sql', '  warehouse: default'));
    expect(problems).toEqual([{ file, path: 'source', line: 4, message: 'give exactly one of "sql" or "query"' }]);
  });

  it('a missing SQL file names the path and where it looked', () => {
    const { file, problems } = jobProblems(edit('sql: segment.sql', 'sql: sql/missing_segment.sql'));
    expect(problems).toEqual([{
      file,
      path: 'source.sql',
      message: `SQL file "sql/missing_segment.sql" not found (looked in ${resolve('sql/missing_segment.sql')} and ${join(dir, 'sql/missing_segment.sql')})`,
      hint: 'paths are relative to the working directory or to the job file',
    }]);
  });

  it.each([
    ['unset', {}],
    ['empty', { META_PHONE_NUMBER_ID: '' }],
  ])('${MISSING_VAR} (%s) names the variable and the path', (_label, env) => {
    const { file, problems } = jobProblems(JOB, env);
    expect(problems).toEqual([{
      file,
      path: 'message.sender',
      line: 12,
      message: 'environment variable META_PHONE_NUMBER_ID is not set',
      hint: 'export META_PHONE_NUMBER_ID=…; secrets and deployment values come only from the environment',
    }]);
  });

  it('names every unset variable in one value', () => {
    const { file, problems } = jobProblems(edit('${META_PHONE_NUMBER_ID}', '"${SENDER_A}-${SENDER_B}"'), {});
    expect(problems.map((p) => [p.file, p.path, p.message])).toEqual([
      [file, 'message.sender', 'environment variable SENDER_A is not set'],
      [file, 'message.sender', 'environment variable SENDER_B is not set'],
    ]);
  });

  it.each([
    ['unset', {}, '15550001234'],
    ['empty', { HERALD_SENDER: '' }, '15550001234'],
    ['set', { HERALD_SENDER: '109876543210' }, '109876543210'],
  ])('${VAR:-default} when VAR is %s', (_label, env, sender) => {
    const file = writeJob(edit('${META_PHONE_NUMBER_ID}', '${HERALD_SENDER:-15550001234}'));
    expect(loadJob(file, env).job.message.sender).toBe(sender);
  });

  it('a body mixing named and positional parameters', () => {
    const { file, problems } = jobProblems(edit('{ column: first_name }', '{ column: first_name, name: first_name }'));
    expect(problems).toEqual([
      { file, path: 'message.body', line: 15, message: 'body parameters are either all named or all positional' },
    ]);
  });

  it('two buttons with the same index', () => {
    const { file, problems } = jobProblems(edit('delivery:\n',
      '  buttons:\n    - { index: 0, url_suffix: { column: coupon_path } }\n    - { index: 0, quick_reply_payload: { value: stop } }\ndelivery:\n'));
    expect(problems).toEqual([{ file, path: 'message.buttons', line: 18, message: 'two buttons share an index' }]);
  });

  it('type currency without currency', () => {
    const { file, problems } = jobProblems(edit('{ column: points, type: number }', '{ column: points, type: currency }'));
    expect(problems).toEqual([
      { file, path: 'message.body.1.currency', line: 16, message: 'type: currency needs "currency" (e.g. JPY)' },
    ]);
  });

  it('reports every problem of the file at once', () => {
    const text = edit('provider: meta', 'provider: twilio').replace('default_region: JP', 'default_region: XX');
    const { problems } = jobProblems(text);
    expect(problems.map((p) => p.path)).toEqual(['audience.default_region', 'message.provider']);
  });
});

describe('parseYaml', () => {
  it('returns the data and the line of a path', () => {
    const parsed = parseYaml('a:\n  b:\n    - 1\n    - c: 2\n', 'inline.yaml');
    expect(parsed.file).toBe('inline.yaml');
    expect(parsed.data).toEqual({ a: { b: [1, { c: 2 }] } });
    expect(parsed.lineOf(['a', 'b', 1, 'c'])).toBe(4);
    expect(parsed.lineOf(['a', 'b', 0])).toBe(3);
    // A path that is not in the file falls back to its nearest existing parent.
    expect(parsed.lineOf(['a', 'missing'])).toBe(2);
  });

  it('throws a ConfigError for malformed YAML', () => {
    const problems = problemsOf(() => parseYaml('a: 1\nb: [1, 2\nc: 3\n', 'broken.yaml'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      file: 'broken.yaml',
      path: '',
      message: 'invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
      hint: 'check indentation, quoting and that every key is followed by ": "',
    });
  });
});

describe('loadConfig', () => {
  it('uses built-in defaults when there is no config file', () => {
    const empty = mkdtempSync(join(dir, 'cwd-'));
    const cwd = process.cwd();
    process.chdir(empty);
    try {
      const loaded = loadConfig({});
      expect(loaded).toMatchObject({ file: '(built-in defaults)', missing: [] });
      expect(loaded.config).toMatchObject({
        warehouses: { default: { url: 'duckdb:warehouse.duckdb' } },
        providers: {
          sandbox: { seed: 42, permanent_failure_ratio: 0.02, transient_failure_ratio: 0.03, latency_ms: 2, max_event_delay_ms: 1500, rate_per_second: 200 },
          meta: { base_url: 'https://graph.facebook.com', graph_version: 'v24.0', rate_per_second: 80 },
          infobip: { rate_per_second: 100, batch_size: 50, batch_linger_ms: 2, timeout_ms: 15000 },
          ada: {
            base_url: 'https://bizmsgapi.ada-asia.com/prod', rate_per_second: 5, send_path: '/message', platform: 'WA', message_id_path: 'messageId',
            error_code_path: 'code', template_name_field: 'templateName', template_lang_field: 'templateLang', template_data_field: 'templateData', timeout_ms: 15000,
          },
        },
        server: { port: 8080 },
        // The opt-out words the consent loop knows without configuration.
        consent: { opt_out_keywords: { en: ['STOP', 'UNSUBSCRIBE'], ja: ['停止', '配信停止'], id: ['BERHENTI'] } },
      });
      // No secret has a default.
      for (const p of ['meta', 'infobip', 'ada'] as const) {
        const section = loaded.config.providers[p] as Record<string, unknown>;
        for (const key of ['access_token', 'app_secret', 'verify_token', 'api_key', 'webhook_secret']) expect(section[key]).toBeUndefined();
      }
      expect(loadConfig({ HERALD_WAREHOUSE_URL: 'duckdb::memory:' }).config.warehouses).toEqual({ default: { url: 'duckdb::memory:' } });
    } finally {
      process.chdir(cwd);
    }
  });

  it('HERALD_CONFIG pointing at a file with a bad warehouse URL', () => {
    const file = join(dir, 'bad-warehouse.yaml');
    writeFileSync(file, 'warehouses:\n  default:\n    url: mysql://localhost/segments\n');
    expect(problemsOf(() => loadConfig({ HERALD_CONFIG: file }))).toEqual([
      { file, path: 'warehouses.default.url', line: 3, message: 'duckdb:<file>, duckdb::memory: or postgres://…' },
    ]);
  });

  it('a bad warehouse URL that came from the environment', () => {
    const file = join(dir, 'env-warehouse.yaml');
    writeFileSync(file, 'warehouses:\n  default:\n    url: ${WAREHOUSE_URL:-duckdb:warehouse.duckdb}\n');
    expect(loadConfig({ HERALD_CONFIG: file }).config.warehouses).toEqual({ default: { url: 'duckdb:warehouse.duckdb' } });
    expect(problemsOf(() => loadConfig({ HERALD_CONFIG: file, WAREHOUSE_URL: 'sqlite:segments.db' }))).toEqual([
      { file, path: 'warehouses.default.url', line: 3, message: 'duckdb:<file>, duckdb::memory: or postgres://…' },
    ]);
  });

  it('HERALD_CONFIG naming a file that does not exist', () => {
    const file = join(dir, 'no-such-config.yaml');
    expect(problemsOf(() => loadConfig({ HERALD_CONFIG: file }))).toEqual([
      { file, path: '', message: 'config file not found', hint: 'check the path; relative paths start from the working directory' },
    ]);
  });

  describe('unset secrets', () => {
    const file = join(dir, 'secrets.yaml');
    writeFileSync(file, [
      'warehouses:',
      '  default:',
      '    url: "duckdb::memory:"',
      'providers:',
      '  meta:',
      '    access_token: ${META_ACCESS_TOKEN}',
      '    graph_version: ${META_GRAPH_VERSION:-v24.0}',
      '  ada:',
      '    api_key: ${ADA_API_KEY:-ada-dev-key}',
      '',
    ].join('\n'));

    it('leave the value absent, not empty, and are listed by path', () => {
      const loaded = loadConfig({ HERALD_CONFIG: file });
      expect(loaded.file).toBe(file);
      expect(loaded.config.providers.meta).toEqual({ base_url: 'https://graph.facebook.com', graph_version: 'v24.0', rate_per_second: 80, senders: {} });
      expect('access_token' in loaded.config.providers.meta).toBe(false);
      expect(loaded.config.providers.ada.api_key).toBe('ada-dev-key');
      expect(loaded.missing).toEqual([{ path: 'providers.meta.access_token', variable: 'META_ACCESS_TOKEN' }]);
    });

    it('requireSection names the variable only when the section is used', () => {
      const loaded = loadConfig({ HERALD_CONFIG: file });
      expect(problemsOf(() => requireSection(loaded, 'providers.meta'))).toEqual([{
        file,
        path: 'providers.meta.access_token',
        message: 'environment variable META_ACCESS_TOKEN is not set',
        hint: 'export META_ACCESS_TOKEN=…; secrets and deployment values come only from the environment',
      }]);
      expect(() => requireSection(loaded, 'providers.ada')).not.toThrow();
      expect(() => requireSection(loaded, 'providers.sandbox')).not.toThrow();
      // A prefix of a section name is not that section.
      expect(() => requireSection(loaded, 'providers.met')).not.toThrow();
      expect(warehouseUrl(loaded, 'default')).toBe('duckdb::memory:');
    });

    it('are present once set', () => {
      const loaded = loadConfig({ HERALD_CONFIG: file, META_ACCESS_TOKEN: 'EAAtest', META_GRAPH_VERSION: 'v23.0' });
      expect(loaded.missing).toEqual([]);
      expect(loaded.config.providers.meta).toEqual({ base_url: 'https://graph.facebook.com', graph_version: 'v23.0', access_token: 'EAAtest', rate_per_second: 80, senders: {} });
      expect(() => requireSection(loaded, 'providers.meta')).not.toThrow();
    });
  });

  it('warehouseUrl names an unknown warehouse and the known ones', () => {
    const file = join(dir, 'two-warehouses.yaml');
    writeFileSync(file, 'warehouses:\n  default:\n    url: duckdb:a.duckdb\n  pg:\n    url: postgres://localhost/x\n');
    const loaded = loadConfig({ HERALD_CONFIG: file });
    expect(warehouseUrl(loaded, 'pg')).toBe('postgres://localhost/x');
    expect(problemsOf(() => warehouseUrl(loaded, 'bq', 'jobs/x.yaml'))).toEqual([
      { file: 'jobs/x.yaml', path: 'source.warehouse', message: `no warehouse named "bq" in ${file}`, hint: 'known: default, pg' },
    ]);
  });
});

describe('loadJob: fixed edge cases', () => {
  it('a wrong type is reported as a wrong type, not a missing key', () => {
    const { problems } = jobProblems(edit('rate_per_second: 80', 'rate_per_second: fast'));
    expect(problems).toEqual([expect.objectContaining({ path: 'delivery.rate_per_second', line: 18, message: 'expected number, got string "fast"' })]);
  });

  it('malformed YAML names the line of the first error only', () => {
    const { problems } = jobProblems(edit('  phone: phone', '  phone: "phone'));
    expect(problems).toHaveLength(1);
    // The parser notices an unclosed quote where the text ends (line 19), and says so once.
    expect(problems[0]).toMatchObject({ line: 19, path: '' });
    expect(problems[0]!.message).toMatch(/^invalid YAML: /);
  });

  it('an unknown key points at its own line', () => {
    const { problems } = jobProblems(edit('delivery:\n', 'delivery:\n  rate_per_secnd: 5\n'));
    expect(problems).toEqual([expect.objectContaining({ path: 'delivery', line: 18, hint: 'did you mean "rate_per_second"?' })]);
  });

  it('a value that is one ${VAR} takes the type YAML would give it', () => {
    const file = writeJob(edit('rate_per_second: 80', 'rate_per_second: ${RATE:-40}'));
    expect(loadJob(file, ENV).job.delivery.rate_per_second).toBe(40);
    expect(loadJob(file, { ...ENV, RATE: '120' }).job.delivery.rate_per_second).toBe(120);
    // A numeric id stays a string id.
    expect(loadJob(file, ENV).job.message.sender).toBe('109876543210');
  });

  it('${VAR:-} that leaves a required value empty is caught by the schema', () => {
    const { problems } = jobProblems(JOB.replace('${META_PHONE_NUMBER_ID}', '"${SENDER:-}"'));
    expect(problems).toEqual([expect.objectContaining({ path: 'message.sender' })]);
  });

  it('lists unset variables and schema problems together', () => {
    const { problems } = jobProblems(edit('rate_per_second: 80', 'rate_per_second: -1'), {});
    expect(problems.map((p) => p.path)).toEqual(['message.sender', 'delivery.rate_per_second']);
  });
});
