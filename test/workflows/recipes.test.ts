/**
 * The workflow recipes in docs/workflows, run against a real `herald serve` (the same routes,
 * run service and part worker as `herald serve` on PostgreSQL): the Treasure Data .dig's http>
 * calls (method, path, Authorization from the http.authorization secret, JSON body, polling
 * GET /runs/<the trigger's run_id>, the if> conditions — its ${…} expressions are evaluated as
 * digdag does, in JavaScript) and its td_load> queries against herald's tables; the Airflow DAG's
 * request constants; the Kubernetes manifests and the Dockerfile they rely on. Read from the
 * files themselves, so a recipe that drifts from the API fails here.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { LoadedConfig } from '../../src/config/load.js';
import { RuntimeConfigSchema } from '../../src/config/runtime.schema.js';
import { SenderRegistry } from '../../src/dispatch/senders.js';
import { eventSink } from '../../src/events/event.js';
import { silentLogger } from '../../src/log.js';
import { JobCatalog } from '../../src/runs/job-catalog.js';
import { configuredProviders, PartWorker } from '../../src/runs/part-worker.js';
import { RunService } from '../../src/runs/run-service.js';
import { runRoutes } from '../../src/server/runs.routes.js';
import { startServe, type ServeHandle } from '../../src/server/serve.js';
import { PostgresWarehouse } from '../../src/warehouse/postgres.warehouse.js';
import { freshPgUrl } from '../helpers/pg.js';

const ROOT = join(import.meta.dirname, '..', '..');
const WF = join(ROOT, 'docs', 'workflows');
const TOKEN = 'recipe-token-5f1c';
const ROWS = 12;
const phone = (i: number) => `+1201555${String(100 + i).padStart(4, '0')}`;

type Task = Record<string, unknown>;
type Vars = Record<string, unknown>;

/** digdag's ${…}: a JavaScript expression over the session's variables; ${secret:k} a secret. */
function render(text: string, vars: Vars, secrets: Record<string, string> = {}): string {
  return text.replace(/\$\{([^}]+)\}/g, (_, expr: string) => {
    if (expr.startsWith('secret:')) {
      const v = secrets[expr.slice(7)];
      if (v === undefined) throw new Error(`no secret ${expr.slice(7)}`);
      return v;
    }
    const value: unknown = new Function(...Object.keys(vars), `return (${expr});`)(...Object.values(vars));
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}
const renderDeep = (v: unknown, vars: Vars): unknown =>
  typeof v === 'string' ? render(v, vars)
    : Array.isArray(v) ? v.map((x) => renderDeep(x, vars))
      : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, renderDeep(x, vars)])) : v;

/** digdag's `if>` takes the rendered value as a boolean. */
const truthy = (rendered: string) => rendered === 'true';

describe('workflow recipes against herald serve on PostgreSQL', () => {
  let dir: string;
  let pgUrl: string;
  let cleanup: () => Promise<void>;
  let wh: PostgresWarehouse;
  let server: ServeHandle;
  let service: RunService;
  let worker: PartWorker;
  const stop = new AbortController();
  let events: ReturnType<typeof eventSink>;
  /** Every request a recipe made, as the server saw it. */
  const requests: { method: string; path: string; auth: string | undefined; body: unknown }[] = [];

  beforeAll(async () => {
    ({ url: pgUrl, cleanup } = await freshPgUrl());
    wh = await PostgresWarehouse.open(pgUrl);
    dir = mkdtempSync(join(tmpdir(), 'herald-recipes-'));
    // The recipe's herald job, sent through the sandbox instead of Meta.
    cpSync(join(WF, 'herald-jobs'), join(dir, 'jobs'), { recursive: true });
    const jobFile = join(dir, 'jobs', 'welcome_back.yaml');
    const job = readFileSync(jobFile, 'utf8');
    expect(job).toContain('provider: meta');
    writeFileSync(jobFile, job.replace('provider: meta', 'provider: sandbox').replace('rate_per_second: 80', 'rate_per_second: 500'));
    const loaded: LoadedConfig = {
      config: RuntimeConfigSchema.parse({ providers: { sandbox: { latency_ms: 0, max_event_delay_ms: 5 } }, server: { api_token: TOKEN } }),
      file: 'test', missing: [],
    };
    events = eventSink(() => wh);
    const catalog = new JobCatalog(join(dir, 'jobs'), {});
    const senders = new SenderRegistry();
    service = new RunService({ config: loaded, wh, catalog, senders, events: events.land, logger: silentLogger, stop: stop.signal });
    server = await startServe({
      config: loaded.config, wh, logger: silentLogger, port: 0, host: '127.0.0.1',
      routes: runRoutes(service, loaded.config.server.api_token, silentLogger).map((r) => ({
        ...r,
        handle: async (req) => {
          requests.push({
            method: r.method, path: req.req.url ?? '', auth: req.req.headers.authorization,
            body: r.body ? JSON.parse(req.body.toString('utf8')) as unknown : undefined,
          });
          return r.handle(req);
        },
      })),
    });
    worker = new PartWorker({ wh, jobs: catalog, providerFor: configuredProviders(loaded, events.land), senders, logger: silentLogger, stop: stop.signal, pollMs: 50, leaseMs: 5_000 });
    worker.start();
  }, 60_000);

  afterAll(async () => {
    stop.abort();
    await service?.idle();
    await worker?.idle();
    await server?.close();
    await events?.idle();
    await wh?.close();
    await cleanup?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('treasure-data.dig: segment export → one POST /runs → GET /runs/<id> until done → td_load> queries return the run', async () => {
    const dig = parse(readFileSync(join(WF, 'treasure-data.dig'), 'utf8')) as Task;
    const exported = dig._export as Vars;
    const vars: Vars = {
      ...exported, herald_url: server.url, session_id: 4711, session_date: '2026-03-02',
      last_session_time: new Date(Date.now() - 60_000).toISOString(), session_time: '',
      http: {} as { last_content?: string }, JSON,
    };
    const secrets = { 'http.authorization': `Bearer ${TOKEN}`, 'postgresql.host': '127.0.0.1', 'postgresql.port': '5432', 'postgresql.user': 'u', 'postgresql.password': 'p' };

    // +export_segment: td> with a result export to herald's PostgreSQL; stand in for TD's writer.
    const exportTask = dig['+export_segment'] as Task;
    expect(exportTask).toMatchObject({ 'td>': expect.stringMatching(/\.sql$/), result_connection: expect.any(String), result_settings: { mode: 'replace' } });
    const td = readFileSync(join(WF, exportTask['td>'] as string), 'utf8');
    const { schema, table } = exportTask.result_settings as { schema: string; table: string };
    const jobSql = readFileSync(join(WF, 'herald-jobs', 'welcome_back.sql'), 'utf8');
    expect(jobSql).toContain(`FROM ${schema}.${table}`);
    for (const column of ['customer_id', 'phone', 'first_name', 'whatsapp_opt_in', 'session_date']) expect(td).toContain(column);
    await wh.query(`CREATE SCHEMA ${schema}`);
    await wh.query(`CREATE TABLE ${schema}.${table} (customer_id text, phone text, first_name text, whatsapp_opt_in boolean, session_date text)`);
    for (let i = 0; i < ROWS + 3; i++) {
      // Three rows of an older export: the session_date param keeps them out.
      await wh.query(`INSERT INTO ${schema}.${table} VALUES ('c${i}', '${phone(i)}', 'Name ${i}', true, '${i < ROWS ? vars.session_date as string : '2026-03-01'}')`);
    }

    // An http> task as digdag runs it: Authorization from the http.authorization secret only.
    const http = async (task: Task): Promise<{ status: number; body: string }> => {
      const headers = (task.headers ?? []) as Record<string, string>[];
      for (const h of headers) for (const value of Object.values(h)) expect(value).not.toContain('${secret:');
      expect(task.timeout, 'every http> sets timeout:').toEqual(expect.any(Number));
      const method = (task.method as string | undefined) ?? 'GET';
      const init: RequestInit = {
        method,
        headers: { authorization: secrets['http.authorization'], ...Object.assign({}, ...headers) as Record<string, string> },
        signal: AbortSignal.timeout((task.timeout as number) * 1000),
      };
      if (task.content !== undefined) {
        expect(task.content_format).toBe('json');
        init.body = JSON.stringify(renderDeep(task.content, vars));
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
      }
      const res = await fetch(render(task['http>'] as string, vars), init);
      const body = await res.text();
      expect(res.status, `http> ${method} answered ${res.status}: ${body}`).toBeLessThan(300); // http> fails the task otherwise
      if (task.store_content) (vars.http as { last_content: string }).last_content = body;
      return { status: res.status, body };
    };

    // +trigger: one POST, 202 at once, stored.
    const trigger = dig['+trigger'] as Task;
    expect(trigger).toMatchObject({ method: 'POST', retry: true, store_content: true });
    const first = await http(trigger);
    expect(first.status).toBe(202);
    const triggered = JSON.parse(first.body) as { run_id: string };

    // +wait: for_each> pins the run id, then the _retry'd poll group.
    const wait = dig['+wait'] as Task;
    const pinned = renderDeep((wait['for_each>'] as Record<string, string[]>).herald_run_id, vars) as string[];
    expect(pinned).toEqual([triggered.run_id]);
    vars.herald_run_id = pinned[0];
    const steps = wait._do as Task;
    const poll = steps['+poll'] as Task;
    const retry = poll._retry as { limit: number; interval: number; interval_type: string };
    expect(retry.limit * retry.interval).toBeGreaterThanOrEqual(3600);
    let polls = 0;
    for (let attempt = 0; ; attempt++) {
      polls++;
      await http(poll['+get'] as Task);
      const until = poll['+until_finished'] as Task;
      if (!truthy(render(until['if>'] as string, vars))) break;
      expect(render(((until._do as Task)['fail>']) as string, vars)).toContain(triggered.run_id);
      expect(attempt, 'the run did not finish within the recipe\'s _retry limit').toBeLessThan(retry.limit);
      await new Promise((r) => setTimeout(r, 50)); // the recipe's `interval`, shortened
    }
    const final = JSON.parse((vars.http as { last_content: string }).last_content) as { status: string; counts: { audience: number } };
    expect(final).toMatchObject({ status: 'succeeded', counts: { audience: ROWS } });
    expect(polls).toBeGreaterThanOrEqual(1);

    // The requests as herald saw them: one POST, then only GETs of that run, all authorized.
    const posts = requests.filter((r) => r.method === 'POST');
    expect(posts).toEqual([{ method: 'POST', path: '/runs', auth: `Bearer ${TOKEN}`, body: { job: 'welcome_back', run_key: 'td-4711', params: { session_date: '2026-03-02' } } }]);
    expect(requests.filter((r) => r.method === 'GET').map((r) => [r.path, r.auth])).toEqual(Array(polls).fill([`/runs/${triggered.run_id}`, `Bearer ${TOKEN}`]));

    // +load_back: each td_load> config's query, rendered as TD renders it, against herald's tables.
    await events.idle();
    vars.session_time = new Date(Date.now() + 60_000).toISOString();
    const load = steps['+load_back'] as Task;
    const loaded: Record<string, Record<string, unknown>[]> = {};
    for (const [name, task] of Object.entries(load)) {
      const config = parse(render(readFileSync(join(WF, (task as Task)['td_load>'] as string), 'utf8'), vars, secrets)) as { in: Record<string, unknown> };
      expect(config.in).toMatchObject({ type: 'postgresql', host: '127.0.0.1', database: expect.any(String), query: expect.any(String) });
      const rows = await wh.query<Record<string, unknown>>(config.in.query as string);
      for (const row of rows) expect(Number(row.time)).toBeGreaterThan(1_700_000_000); // TD's time column, unix seconds
      loaded[name] = rows;
    }
    expect(loaded['+sends']!.map((r) => r.run_id)).toEqual(Array(ROWS).fill(triggered.run_id));
    expect(new Set(loaded['+sends']!.map((r) => r.recipient))).toEqual(new Set(Array.from({ length: ROWS }, (_, i) => phone(i))));
    expect(loaded['+events']!.length).toBeGreaterThan(0);
    const eventsConfig = parse(readFileSync(join(WF, 'td', 'herald_events.yml'), 'utf8')) as { in: { incremental_columns: string[] } };
    for (const column of eventsConfig.in.incremental_columns) expect(loaded['+events']![0]).toHaveProperty(column);
    // The next session's window starts where this one ended: nothing twice.
    vars.last_session_time = vars.session_time;
    vars.session_time = new Date(Date.now() + 120_000).toISOString();
    const next = parse(render(readFileSync(join(WF, 'td', 'herald_events.yml'), 'utf8'), vars, secrets)) as { in: { query: string } };
    expect(await wh.query(next.in.query)).toEqual([]);

    // +outcome: no failure for a succeeded run; a failure for exit code 3 or an aborted run.
    const outcome = steps['+outcome'] as Task;
    expect(truthy(render(outcome['if>'] as string, vars))).toBe(false);
    for (const other of [{ status: 'succeeded', exit_code: 3 }, { status: 'aborted', exit_code: 1 }, { status: 'failed' }]) {
      expect(truthy(render(outcome['if>'] as string, { ...vars, http: { last_content: JSON.stringify(other) } }))).toBe(true);
    }

    // A retried session POSTs the same key: the same run, nothing sent again.
    const again = await http(trigger);
    expect(JSON.parse(again.body)).toMatchObject({ run_id: triggered.run_id, created: false });
    expect(await wh.query('SELECT run_id FROM herald.runs')).toHaveLength(1);
  }, 120_000);

  it('airflow_herald_dag.py: the DAG\'s trigger body, endpoints and header work against the run API', async () => {
    const dag = readFileSync(join(WF, 'airflow_herald_dag.py'), 'utf8');
    const constant = (name: string) => {
      const m = new RegExp(`^${name} = (.+)$`, 'm').exec(dag);
      if (!m) throw new Error(`no ${name} in the DAG`);
      return m[1]!;
    };
    const str = (name: string) => JSON.parse(constant(name)) as string;
    const jinja: Record<string, string> = {
      'dag.dag_id': 'herald_welcome_back', run_id: 'scheduled__2026-03-02T00:00:00+00:00', ds: '2026-03-02',
      'conn.herald_api.password': TOKEN,
    };
    const template = (s: string, extra: Record<string, string> = {}) =>
      s.replace(/\{\{\s*(.+?)\s*\}\}/g, (_, e: string) => { const v = { ...jinja, ...extra }[e]; if (v === undefined) throw new Error(`unknown template ${e}`); return v; });
    const job = str('JOB');
    const runKey = str('RUN_KEY');
    const body = JSON.parse(constant('TRIGGER_BODY').replace('JOB', JSON.stringify(job)).replace('RUN_KEY', JSON.stringify(runKey))) as unknown;
    const headers = JSON.parse(constant('HEADERS')) as Record<string, string>;
    expect(headers.Authorization).toMatch(/^Bearer /);
    expect(dag).toMatch(/response_filter=lambda response: response\.json\(\)\["run_id"\]/);
    expect(dag).toMatch(/mode="reschedule"/);
    expect(dag).toMatch(/Mount\(source=.*target="\/app\/jobs"/); // the container variant mounts the jobs

    const send = (method: string, endpoint: string, data?: string, extra: Record<string, string> = {}) =>
      fetch(`${server.url}/${template(endpoint, extra)}`, {
        method, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, template(v)])), ...(data ? { body: data } : {}),
      });
    const data = template(JSON.stringify(body));
    const res = await send(str('TRIGGER_METHOD'), str('TRIGGER_ENDPOINT'), data);
    expect(res.status).toBe(202);
    const runId = ((await res.json()) as { run_id: string }).run_id; // response_filter → XCom
    const unfinished = JSON.parse(constant('UNFINISHED')) as string[];
    let view: { status: string; exit_code?: number };
    for (;;) {
      const r = await send('GET', str('STATUS_ENDPOINT'), undefined, { "ti.xcom_pull(task_ids='trigger')": runId });
      expect(r.status).toBe(200);
      view = (await r.json()) as typeof view;
      if (!unfinished.includes(view.status)) break;
      await new Promise((r2) => setTimeout(r2, 50));
    }
    expect(view.status).toBe('succeeded');
    // A retried task sends the same key: the same run.
    const retried = await send('POST', str('TRIGGER_ENDPOINT'), data);
    expect(await retried.json()).toMatchObject({ run_id: runId, created: false });
    const python = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read())', join(WF, 'airflow_herald_dag.py')]);
    if (python.error === undefined) expect(python.status, python.stderr.toString()).toBe(0);
  }, 60_000);
});

describe('Kubernetes manifests and the Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const user = /^USER (\d+)(?::(\d+))?$/m.exec(dockerfile);

  it('the image: numeric USER, tini as PID 1, npm ci, no HEALTHCHECK, COPY sources that exist', () => {
    expect(user, 'USER must be numeric for runAsNonRoot').not.toBeNull();
    expect(dockerfile).toMatch(new RegExp(`useradd [^\\n]*--uid ${user![1]} `));
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends tini/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/bin\/herald\.js"\]$/m);
    expect(dockerfile).not.toMatch(/^HEALTHCHECK/m);
    expect(dockerfile).not.toMatch(/npm install/);
    expect(dockerfile.match(/^RUN npm ci /gm)).toHaveLength(2);
    const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const [, from] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of from!.split(' ')) {
        expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
        expect(dockerignore, `${src} is excluded from the build context`).not.toContain(src.replace(/\/$/, ''));
      }
    }
  });

  it('the CronJob: a run key from the scheduled Job, podFailurePolicy FailJob on 2 and 3, runAsNonRoot', () => {
    const [cron] = parseAllDocuments(readFileSync(join(ROOT, 'docs', 'workflows', 'kubernetes-cronjob.yaml'), 'utf8')).map((d) => d.toJS() as Task);
    expect(cron).toMatchObject({ apiVersion: 'batch/v1', kind: 'CronJob' });
    const jobSpec = ((cron!.spec as Task).jobTemplate as Task).spec as Task;
    const pod = (jobSpec.template as Task).spec as Task;
    expect(pod.restartPolicy).toBe('Never'); // podFailurePolicy requires it
    const container = (pod.containers as Task[])[0]!;
    expect(jobSpec.podFailurePolicy).toEqual({
      rules: [
        { action: 'FailJob', onExitCodes: { containerName: container.name, operator: 'In', values: [2, 3] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
      ],
    });
    const args = container.args as string[];
    expect(args.slice(0, 1)).toEqual(['run']);
    const key = args[args.indexOf('--run-key') + 1];
    expect(key).toBe('$(HERALD_RUN_KEY)');
    expect((container.env as Task[]).find((e) => e.name === 'HERALD_RUN_KEY')).toEqual({
      name: 'HERALD_RUN_KEY', valueFrom: { fieldRef: { fieldPath: "metadata.labels['job-name']" } },
    });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(user![1]) });
    expect(pod).not.toHaveProperty('containers.0.livenessProbe');
  });

  it('deploy/k8s: every manifest parses; serve and worker run as the image\'s user; serve is probed', () => {
    for (const file of readdirSync(join(ROOT, 'deploy', 'k8s')).filter((f) => f.endsWith('.yaml'))) {
      const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'k8s', file), 'utf8'));
      for (const d of docs) expect(d.errors).toEqual([]);
      for (const obj of docs.map((d) => d.toJS() as Task).filter((o) => o.kind === 'Deployment')) {
        const pod = ((obj.spec as Task).template as Task).spec as Task;
        expect(pod.securityContext, `${file} ${String((obj.metadata as Task).name)}`).toMatchObject({ runAsNonRoot: true, runAsUser: Number(user![1]) });
        const c = (pod.containers as Task[])[0]!;
        if ((c.args as string[])[0] === 'serve') expect(c).toMatchObject({ livenessProbe: { httpGet: { path: '/healthz' } }, readinessProbe: { httpGet: { path: '/readyz' } } });
      }
    }
  });
});
