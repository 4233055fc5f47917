/**
 * `herald validate <job…>`: schema, SQL against the warehouse, every column the job names, and
 * the provider's configuration. Lists every problem of every file, then exits 2 if there was one.
 */
import { loadConfig, loadJob, warehouseUrl } from '../config/load.js';
import { preflight, templateAccount } from '../preflight/template-check.js';
import { jobRateProblem } from '../dispatch/senders.js';
import { createProvider } from '../providers/registry.js';
import { ConfigError, HeraldError, type Problem } from '../errors.js';
import { bindSegmentSql, missingColumns, missingColumnsError, sqlError } from '../pipeline/segment.js';
import { openWarehouse } from '../warehouse/open.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export async function validateCommand(files: string[]): Promise<number> {
  if (files.length === 0) throw ConfigError.of('herald validate', '', 'name at least one job file', 'herald validate jobs/*.yaml');
  const problems: Problem[] = [];
  const warehouses = new Map<string, Warehouse>();
  try {
    for (const file of files) {
      const found = await validateOne(file, warehouses);
      problems.push(...found);
      console.log(found.length === 0 ? `ok  ${file}` : `bad ${file}`);
    }
  } finally {
    for (const wh of warehouses.values()) await wh.close();
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return 0;
}

async function validateOne(file: string, warehouses: Map<string, Warehouse>): Promise<Problem[]> {
  try {
    const config = loadConfig();
    const loaded = loadJob(file);
    // Building the provider checks its settings and the job's fit to it; then the job's mapping
    // is checked against the approved template where the provider can list them.
    const { provider: name, sender } = loaded.job.message;
    const provider = createProvider(name, config, { events: async () => undefined, message: loaded.job.message }, file);
    let templateProblems: Problem[];
    const rateProblem = jobRateProblem(provider, loaded.job.delivery.rate_per_second, file);
    try {
      templateProblems = [...(rateProblem ? [rateProblem] : []), ...(await preflight(loaded.job, file, provider, templateAccount(name, config.config, sender))).problems];
    } finally {
      await provider.close();
    }
    const url = warehouseUrl(config, loaded.job.source.warehouse, file);
    let wh = warehouses.get(url);
    if (!wh) warehouses.set(url, (wh = await openWarehouse(url)));
    const { sql, params } = bindSegmentSql(loaded);
    let columns: string[];
    try {
      columns = await wh.describe(sql, params);
    } catch (err) {
      throw sqlError(loaded, err);
    }
    const missing = missingColumns(loaded, columns);
    return [...(missing.length > 0 ? missingColumnsError(loaded, missing, columns).problems : []), ...templateProblems];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    if (err instanceof HeraldError) return [{ file, path: '', message: err.message }];
    throw err;
  }
}
