/**
 * Everything one scenario runs against, made fresh for it and torn down after it: the segment and
 * its ground truth, the warehouse (with the segment loaded), the Meta stand-in and its webhooks,
 * the job and config files, herald serve, and the way runs are started on this engine.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup, globalCleanup } from './cleanup.js';
import { FaultPlan } from './faults.js';
import { ServeProcess, sleep, type SpawnOptions } from './herald.js';
import type { ScenarioName, SuiteOptions } from './options.js';
import { PgCluster } from './pg-cluster.js';
import { freePort } from './ports.js';
import { Rng } from './rng.js';
import { ApiRunner, CliRunner, type RunOutcome, type Runner } from './runners.js';
import { generateSegment, groundTruth, type SegmentRow, type Truth } from './segment.js';
import { GRAPH_VERSION, MetaStandIn, TEMPLATE } from './stand-in.js';
import { DuckDbFile, PgDatabase, SEGMENT_SQL, type ChaosWarehouse, type Engine } from './warehouse.js';
import { WebhookSender } from './webhooks.js';

export const PHONE_NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';
const ACCESS_TOKEN = 'chaos-access-token';
export const APP_SECRET = 'chaos-app-secret';
const API_TOKEN = 'chaos-api-token';

/** What the suite learned about this build of herald before the scenarios (main.ts probes it). */
export interface HeraldTraits {
  /** `delivery.unknown_resend_after` value the job sets (the shortest this build accepts), or null. */
  resendAfter: string | null;
  resendAfterMs: number;
}

export interface Outcome extends RunOutcome {
  label: string;
}

export function seedFor(seed: number, engine: Engine, scenario: ScenarioName): number {
  let h = seed >>> 0;
  for (const c of `${engine}/${scenario}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}

export class World {
  readonly cleanup = new Cleanup();
  readonly outcomes: Outcome[] = [];
  readonly notes: Record<string, unknown> = {};
  readonly started = Date.now();
  readonly job: string;
  rows!: SegmentRow[];
  truth!: Truth;
  warehouse!: ChaosWarehouse;
  cluster: PgCluster | null = null;
  faults!: FaultPlan;
  webhooks!: WebhookSender;
  standIn!: MetaStandIn;
  serve!: ServeProcess;
  /** CLI runs on PostgreSQL, serve's run API on DuckDB. */
  runner!: Runner;
  /** Serve's run API, on either engine. */
  api!: ApiRunner;
  jobFile!: string;
  /** The last moment herald may have been left with an unknown send (a kill, a fault, an outage). */
  private unknownRiskAt = 0;
  private forget: () => Promise<void> = async () => undefined;

  private constructor(readonly engine: Engine, readonly scenario: ScenarioName, readonly o: SuiteOptions, readonly traits: HeraldTraits, readonly dir: string, readonly rng: Rng) {
    this.job = `chaos_${scenario}`;
  }

  static async create(engine: Engine, scenario: ScenarioName, o: SuiteOptions, traits: HeraldTraits, root: string): Promise<World> {
    const dir = join(root, `${engine}-${scenario}`);
    mkdirSync(dir, { recursive: true });
    const w = new World(engine, scenario, o, traits, dir, new Rng(seedFor(o.seed, engine, scenario)));
    w.forget = globalCleanup.add(`${engine}/${scenario}`, () => w.cleanup.run());
    if (!o.keep) w.cleanup.add(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    try {
      await w.setUp();
    } catch (err) {
      await w.dispose();
      throw err;
    }
    return w;
  }

  private async setUp(): Promise<void> {
    const { engine, scenario, o, dir, rng } = this;
    this.rows = generateSegment(o.rows, rng.fork());
    this.truth = groundTruth(this.rows, rng.fork());

    if (engine === 'duckdb') {
      this.warehouse = DuckDbFile.in(dir);
    } else {
      let adminUrl = o.pgAdminUrl;
      if (scenario === 'restart') {
        this.log('starting a throwaway PostgreSQL cluster');
        const cluster = await PgCluster.start(join(dir, 'pg'));
        this.cluster = cluster;
        this.cleanup.add(`PostgreSQL cluster on port ${cluster.port}`, () => cluster.stop());
        adminUrl = cluster.url();
      }
      const db = await PgDatabase.create(adminUrl);
      this.cleanup.add(`database ${db.name}`, () => db.dispose());
      this.warehouse = db;
    }
    await this.warehouse.load(this.rows);

    this.faults = new FaultPlan(rng.fork(), 0);
    const webhooks = new WebhookSender({ appSecret: APP_SECRET, phoneNumberId: PHONE_NUMBER_ID, rng: rng.fork(), ackLog: join(dir, 'acked.jsonl') });
    this.webhooks = webhooks;
    this.cleanup.add('webhook sender', () => webhooks.stop());
    const standIn = await MetaStandIn.start({
      token: ACCESS_TOKEN, phoneNumberId: PHONE_NUMBER_ID, wabaId: WABA_ID, faults: this.faults, undeliverable: this.truth.undeliverable,
      webhooks, rng: rng.fork(), processedLog: join(dir, 'processed.jsonl'), stallMs: o.metaTimeoutMs + 1500,
    });
    this.standIn = standIn;
    this.cleanup.add('Meta stand-in', () => standIn.close());

    const jobsDir = join(dir, 'jobs');
    mkdirSync(jobsDir, { recursive: true });
    writeFileSync(join(dir, 'segment.sql'), `${SEGMENT_SQL}\n`);
    this.jobFile = join(jobsDir, `${this.job}.yaml`);
    writeFileSync(this.jobFile, this.jobYaml());
    const configFile = join(dir, 'herald.yaml');
    writeFileSync(configFile, this.configYaml());

    const spawn: SpawnOptions = {
      env: this.heraldEnv(configFile, jobsDir), logFile: join(dir, 'herald.log'), pidFile: join(dir, '..', 'children.pids'), cleanup: this.cleanup,
    };
    this.serve = new ServeProcess({ ...spawn, port: await freePort(), jobsDir });
    await this.serve.start();
    webhooks.setTarget(`${this.serve.url}/webhooks/meta`);
    const progress = () => standIn.arrivals;
    this.api = new ApiRunner({ serve: this.serve, token: API_TOKEN, job: this.job, progress, stallMs: 15_000 });
    this.runner = engine === 'duckdb' ? this.api : new CliRunner({ ...spawn, jobFile: this.jobFile, progress, stallMs: 45_000 });
    this.log(`ready: ${this.rows.length} rows, ${this.truth.eligible.size} eligible, ${this.truth.undeliverable.size} undeliverable; serve on ${this.serve.url}`);
  }

  private jobYaml(): string {
    return [
      `name: ${this.job}`,
      'timezone: UTC',
      'source:',
      `  sql: ${JSON.stringify(join(this.dir, 'segment.sql'))}`,
      'audience: { key: customer_id, phone: phone, default_region: US, consent: whatsapp_opt_in }',
      'message:',
      '  provider: meta',
      '  sender: "${META_PHONE_NUMBER_ID}"',
      `  template: { name: ${TEMPLATE.name}, language: ${TEMPLATE.language} }`,
      '  body: [ { column: first_name } ]',
      'delivery:',
      `  rate_per_second: ${this.o.rate}`,
      '  concurrency: 64',
      ...(this.traits.resendAfter ? [`  unknown_resend_after: ${this.traits.resendAfter}`] : []),
      '',
    ].join('\n');
  }

  private configYaml(): string {
    return [
      'warehouses:',
      '  default:',
      '    url: ${HERALD_WAREHOUSE_URL}',
      'providers:',
      '  meta:',
      '    base_url: ${META_BASE_URL}',
      `    graph_version: ${GRAPH_VERSION}`,
      '    access_token: ${META_ACCESS_TOKEN}',
      '    app_secret: ${META_APP_SECRET}',
      '    verify_token: chaos-verify-token',
      '    waba_id: ${META_WABA_ID}',
      '    rate_per_second: 1000',
      `    timeout_ms: ${this.o.metaTimeoutMs}`,
      'server:',
      '  host: 127.0.0.1',
      '  api_token: ${HERALD_API_TOKEN}',
      '',
    ].join('\n');
  }

  private heraldEnv(configFile: string, jobsDir: string): NodeJS.ProcessEnv {
    // Nothing of the caller's herald or Meta settings leaks in.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HERALD|META|INFOBIP|ADA)_/.test(k)));
    return {
      ...inherited,
      HERALD_CONFIG: configFile, HERALD_WAREHOUSE_URL: this.warehouse.url, HERALD_JOBS_DIR: jobsDir, HERALD_API_TOKEN: API_TOKEN,
      HERALD_CACHE_DIR: join(this.dir, 'cache'), HERALD_LOG_LEVEL: 'warn',
      META_BASE_URL: this.standIn.url, META_ACCESS_TOKEN: ACCESS_TOKEN, META_APP_SECRET: APP_SECRET, META_WABA_ID: WABA_ID, META_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    };
  }

  log(message: string): void {
    console.error(`[${this.engine}/${this.scenario} +${((Date.now() - this.started) / 1000).toFixed(1)}s] ${message}`);
  }

  markUnknownRisk(): void {
    this.unknownRiskAt = Date.now();
  }

  /**
   * Waits out `unknown_resend_after` since the last moment a send could have been left unknown:
   * only then may herald conclude that an unknown send with no webhook was never accepted.
   */
  async resendWindow(): Promise<void> {
    if (!this.traits.resendAfter || this.unknownRiskAt === 0) return;
    const wait = this.unknownRiskAt + this.traits.resendAfterMs + 1500 - Date.now();
    if (wait <= 0) return;
    this.log(`waiting ${(wait / 1000).toFixed(0)} s: unknown_resend_after (${this.traits.resendAfter}) since the last kill/fault/outage`);
    await sleep(wait);
  }

  /** Runs `runKey` (or a plain run) to its end and records how it ended. */
  async runToEnd(label: string, runKey: string | null, runner: Runner = this.runner): Promise<Outcome> {
    const outcome = { label, ...(await runner.start(runKey).done) };
    this.record(outcome);
    return outcome;
  }

  record(outcome: Outcome): void {
    this.outcomes.push(outcome);
    const counts = outcome.counts ? ` ${Object.entries(outcome.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(' ')}` : '';
    this.log(`${outcome.label}: ${outcome.ended}${outcome.status ? ` ${outcome.status}` : ''}${outcome.exitCode !== undefined ? ` (exit ${outcome.exitCode})` : ''}${counts}${outcome.detail ? ` — ${outcome.detail}` : ''}`);
  }

  async dispose(): Promise<void> {
    await this.cleanup.run();
    await this.forget();
  }
}
