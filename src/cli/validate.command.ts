/**
 * `herald validate <job…> [--json]`: schema, SQL against the warehouse, every column the job names,
 * the provider's configuration and the approved template. Lists every problem of every file, then
 * exits 2 if there was one. A check that cannot be made (the template listing is down, the
 * provider is not configured) does not stop the others: it is named as skipped, with why.
 */
import { loadConfig, loadJob, warehouseUrl, type LoadedConfig, type LoadedJob } from '../config/load.js';
import { preflight, templateAccount } from '../preflight/template-check.js';
import { jobRateProblem } from '../dispatch/senders.js';
import { createProvider } from '../providers/registry.js';
import { ConfigError, HeraldError, errorMessage, formatProblem, type Problem } from '../errors.js';
import { bindSegmentSql, missingColumns, missingColumnsError, sqlError } from '../pipeline/segment.js';
import { openWarehouse } from '../warehouse/open.js';
import type { SqlValue, Warehouse } from '../warehouse/warehouse.js';

export interface FileVerdict {
  file: string;
  ok: boolean;
  problems: Problem[];
  /** Checks that could not be made, each `<check> not checked: <why>`. */
  skipped: string[];
}

export async function validateCommand(files: string[], flags: Record<string, unknown> = {}): Promise<number> {
  if (files.length === 0) throw ConfigError.of('herald validate', '', 'name at least one job file', 'herald validate jobs/*.yaml');
  const json = flags.json === true;
  const verdicts: FileVerdict[] = [];
  const warehouses = new Map<string, Warehouse>();
  try {
    for (const file of files) {
      const v = await validateOne(file, warehouses);
      verdicts.push(v);
      if (json) continue;
      console.log(v.ok ? `ok  ${file}` : `bad ${file}`);
      for (const s of v.skipped) console.log(`    ${s}`);
    }
  } finally {
    for (const wh of warehouses.values()) await wh.close();
  }
  const problems = verdicts.flatMap((v) => v.problems);
  if (json) {
    console.log(JSON.stringify({ ok: problems.length === 0, files: verdicts }));
    for (const p of problems) console.error(formatProblem(p));
    return problems.length > 0 ? 2 : 0;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return 0;
}

async function validateOne(file: string, warehouses: Map<string, Warehouse>): Promise<FileVerdict> {
  const problems: Problem[] = [];
  const skipped: string[] = [];
  const verdict = () => ({ file, ok: problems.length === 0, problems, skipped });
  let config: LoadedConfig;
  let loaded: LoadedJob;
  try {
    config = loadConfig();
    loaded = loadJob(file);
  } catch (err) {
    problems.push(...asProblems(file, err)); // nothing else can be checked: the problems say why
    return verdict();
  }
  problems.push(...await providerChecks(config, loaded, skipped));
  problems.push(...await segmentChecks(config, loaded, warehouses, skipped));
  return verdict();
}

/**
 * Building the provider checks its settings and the job's fit to it; then the job's mapping is
 * checked against the approved template where the provider can list them. A listing that fails
 * (network, auth, the provider's outage) is a check not made, not a problem of the job.
 */
async function providerChecks(config: LoadedConfig, loaded: LoadedJob, skipped: string[]): Promise<Problem[]> {
  const { file, job } = loaded;
  const { provider: name, sender } = job.message;
  let provider;
  try {
    provider = createProvider(name, config, { events: async () => undefined, message: job.message }, file);
  } catch (err) {
    skipped.push(`template not checked: the ${name} provider could not be set up`);
    return asProblems(file, err);
  }
  const problems: Problem[] = [];
  try {
    const rate = jobRateProblem(provider, job.delivery.rate_per_second, file);
    if (rate) problems.push(rate);
    try {
      problems.push(...(await preflight(job, file, provider, templateAccount(name, config.config, sender))).problems);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else skipped.push(`template not checked: listing ${name}'s templates failed: ${errorMessage(err).split('\n')[0]}`);
    }
  } finally {
    await provider.close();
  }
  return problems;
}

/** The segment SQL compiles against its warehouse, and every column the job names is in its result. */
async function segmentChecks(config: LoadedConfig, loaded: LoadedJob, warehouses: Map<string, Warehouse>, skipped: string[]): Promise<Problem[]> {
  const { file } = loaded;
  let wh: Warehouse;
  let bound: ReturnType<typeof bindSegmentSql>;
  try {
    bound = bindSegmentSql(loaded);
    const url = warehouseUrl(config, loaded.job.source.warehouse, file);
    const open = warehouses.get(url);
    if (open) wh = open;
    else warehouses.set(url, (wh = await openWarehouse(url)));
  } catch (err) {
    skipped.push('SQL and columns not checked: the warehouse could not be opened or the SQL bound');
    return asProblems(file, err);
  }
  let columns: string[];
  try {
    columns = await wh.describe(bound.sql, bound.params);
  } catch (err) {
    skipped.push('columns not checked: the SQL did not compile');
    return sqlError(loaded, await locatedError(wh, bound, err)).problems;
  }
  const missing = missingColumns(loaded, columns);
  return missing.length > 0 ? missingColumnsError(loaded, missing, columns).problems : [];
}

/**
 * describe() wraps the SQL, so a PostgreSQL error position points into text the user never wrote.
 * EXPLAIN (which plans and does not run) gives the same error with a position in `EXPLAIN <sql>`,
 * which sqlError maps back onto the segment's own lines. DuckDB's message already carries them.
 */
async function locatedError(wh: Warehouse, bound: { sql: string; params: SqlValue[] }, err: unknown): Promise<unknown> {
  if (typeof (err as { position?: unknown }).position !== 'string') return err;
  const ran = `EXPLAIN ${bound.sql}`;
  try {
    await wh.query(ran, bound.params);
  } catch (again) {
    return Object.assign(again as object, { ran });
  }
  return err;
}

function asProblems(file: string, err: unknown): Problem[] {
  if (err instanceof ConfigError) return err.problems;
  if (err instanceof HeraldError) return [{ file, path: '', message: err.message }];
  throw err;
}
