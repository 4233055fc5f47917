/** Command-line options of `npm run chaos`, and the defaults of the short (CI) and full suites. */
import { parseArgs } from 'node:util';
import type { Engine } from './warehouse.js';

export const SCENARIOS = ['kills', 'faults', 'restart', 'poison'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface SuiteOptions {
  short: boolean;
  engines: Engine[];
  scenarios: ScenarioName[];
  /** SIGKILLs in the kills scenario. */
  kills: number;
  /** Graceful stops (SIGTERM, as Ctrl-C or a container stop) among them. */
  stops: number;
  /**
   * PostgreSQL restarts in the restart scenario: under a CLI run, then under a run inside serve
   * during a held-back webhook flood, then under the run that completes the key.
   */
  restarts: number;
  rows: number;
  rate: number;
  faultRatio: number;
  seed: number;
  /** Scenarios run at once (each has its own stand-in, warehouse and herald processes). */
  parallel: number;
  keep: boolean;
  out: string;
  /** Admin URL of the local PostgreSQL server; scenarios create and drop their databases on it. */
  pgAdminUrl: string;
  scenarioTimeoutMs: number;
  /** herald's Meta timeout (providers.meta.timeout_ms); stalls last past it. */
  metaTimeoutMs: number;
}

const USAGE = `npm run chaos -- [--engine duckdb|postgres|both] [--short] [--scenario kills,faults,restart,poison]
  [--kills N] [--stops N] [--restarts N] [--rows N] [--rate N] [--fault-ratio R] [--seed N] [--parallel N] [--timeout SECONDS] [--keep] [--out FILE]`;

export function parseOptions(argv: string[]): SuiteOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      engine: { type: 'string', default: 'both' },
      short: { type: 'boolean', default: false },
      scenario: { type: 'string' },
      kills: { type: 'string' },
      stops: { type: 'string' },
      restarts: { type: 'string' },
      rows: { type: 'string' },
      rate: { type: 'string' },
      'fault-ratio': { type: 'string' },
      seed: { type: 'string' },
      parallel: { type: 'string' },
      timeout: { type: 'string' },
      keep: { type: 'boolean', default: false },
      out: { type: 'string', default: '.tmp/chaos-results.json' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const engines: Engine[] = values.engine === 'both' ? ['duckdb', 'postgres'] : values.engine === 'duckdb' || values.engine === 'postgres' ? [values.engine] : usage(`--engine ${values.engine}`);
  const scenarios = (values.scenario?.split(',') ?? [...SCENARIOS]).map((s) => (SCENARIOS as readonly string[]).includes(s) ? (s as ScenarioName) : usage(`--scenario ${s}`));
  const short = values.short;
  const num = (text: string | undefined, fallback: number, name: string) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    return Number.isFinite(n) && n >= 0 ? n : usage(`--${name} ${text}`);
  };
  return {
    short, engines, scenarios,
    kills: num(values.kills, short ? 3 : 20, 'kills'),
    stops: num(values.stops, short ? 1 : 4, 'stops'),
    restarts: num(values.restarts, short ? 2 : 4, 'restarts'),
    rows: num(values.rows, short ? 1000 : 4000, 'rows'),
    rate: num(values.rate, 200, 'rate'),
    faultRatio: num(values['fault-ratio'], 0.1, 'fault-ratio'),
    seed: num(values.seed, Math.floor(Math.random() * 1e9), 'seed'),
    parallel: Math.max(1, num(values.parallel, short ? 4 : 2, 'parallel')),
    keep: values.keep,
    out: values.out,
    pgAdminUrl: process.env.CHAOS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    scenarioTimeoutMs: num(values.timeout, short ? 200 : 1200, 'timeout') * 1000,
    metaTimeoutMs: 2000,
  };
}

function usage(what: string): never {
  console.error(`chaos: unknown ${what}\n${USAGE}`);
  process.exit(2);
}
