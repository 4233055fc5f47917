/**
 * Loads and validates, once, at the edge: the job file (with its SQL) and the runtime config.
 * Everything past this point works with typed, checked values.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, type Problem } from '../errors.js';
import { interpolate, type MissingVariable } from './interpolate.js';
import { JobSchema, type Job } from './job.schema.js';
import { RuntimeConfigSchema, type ProviderName, type RuntimeConfig } from './runtime.schema.js';
import { parseWith, readYamlFile } from './yaml-file.js';

export interface LoadedJob {
  job: Job;
  /** The job file as the user named it. */
  file: string;
  /** The segment SQL text, from `source.sql` or `source.query`. */
  sql: string;
  /** Where the SQL came from, for messages: the .sql path, or `<file> source.query`. */
  sqlOrigin: string;
}

export function loadJob(file: string, env: NodeJS.ProcessEnv = process.env): LoadedJob {
  const source = readYamlFile(file, 'job file');
  const { value: data, missing } = interpolate(source.data, env, { retype: true });
  let value: Job;
  try {
    value = parseWith(JobSchema, { ...source, data });
  } catch (err) {
    // Unset variables and schema problems together, one line per path: every problem in one pass.
    if (!(err instanceof ConfigError) || missing.length === 0) throw err;
    const unset = new Set(missing.map((m) => m.path));
    throw new ConfigError([...missingVariables(file, missing, source.lineOf).problems, ...err.problems.filter((p) => !unset.has(p.path))]);
  }
  if (missing.length > 0) throw missingVariables(file, missing, source.lineOf);
  if (value.source.query !== undefined) return { job: value, file, sql: value.source.query, sqlOrigin: `${file} source.query` };
  const sqlPath = resolveSqlPath(value.source.sql!, file);
  return { job: value, file, sql: readFileSync(sqlPath, 'utf8'), sqlOrigin: value.source.sql! };
}

/** `source.sql` is relative to the working directory (the project root), or else to the job file. */
function resolveSqlPath(sql: string, jobFile: string): string {
  const candidates = [resolve(sql), resolve(dirname(jobFile), sql)];
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  throw ConfigError.of(jobFile, 'source.sql', `SQL file "${sql}" not found (looked in ${[...new Set(candidates)].join(' and ')})`,
    'paths are relative to the working directory or to the job file');
}

export interface LoadedConfig {
  config: RuntimeConfig;
  file: string;
  /** `${VAR}`s that were unset, by dotted path; checked when the section is used. */
  missing: MissingVariable[];
}

export const DEFAULT_CONFIG_FILE = 'config/herald.yaml';

/** The file in HERALD_CONFIG, else config/herald.yaml when present, else built-in defaults. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = env.HERALD_CONFIG ?? DEFAULT_CONFIG_FILE;
  if (env.HERALD_CONFIG === undefined && !existsSync(file)) {
    const url = env.HERALD_WAREHOUSE_URL;
    return { config: RuntimeConfigSchema.parse(url ? { warehouses: { default: { url } } } : {}), file: '(built-in defaults)', missing: [] };
  }
  const source = readYamlFile(file, 'config file');
  const { value, missing } = interpolate(source.data, env);
  // A required value whose variable is unset: say which variable, not "missing key".
  const required = missing.filter((m) => /^warehouses\.[^.]+\.url$/.test(m.path));
  if (required.length > 0) throw missingVariables(file, required, source.lineOf);
  const config = parseWith(RuntimeConfigSchema, { ...source, data: dropPaths(value, missing.map((m) => m.path)) });
  return { config, file, missing };
}

/** Unset variables make a section unusable, never silently empty: name them. */
export function requireSection(loaded: LoadedConfig, section: string): void {
  const missing = loaded.missing.filter((m) => m.path === section || m.path.startsWith(`${section}.`));
  if (missing.length > 0) throw missingVariables(loaded.file, missing);
}

export function providerSection(provider: ProviderName): string {
  return `providers.${provider}`;
}

export function warehouseUrl(loaded: LoadedConfig, name: string, jobFile?: string): string {
  requireSection(loaded, `warehouses.${name}`);
  const wh = loaded.config.warehouses[name];
  if (!wh) {
    throw ConfigError.of(jobFile ?? loaded.file, 'source.warehouse', `no warehouse named "${name}" in ${loaded.file}`,
      `known: ${Object.keys(loaded.config.warehouses).join(', ') || 'none'}`);
  }
  return wh.url;
}

function missingVariables(file: string, missing: MissingVariable[], lineOf?: (path: readonly PropertyKey[]) => number | undefined): ConfigError {
  return new ConfigError(missing.map((m): Problem => {
    const line = lineOf?.(m.path.split('.'));
    return {
      file,
      path: m.path,
      ...(line ? { line } : {}),
      message: `environment variable ${m.variable} is not set`,
      hint: `export ${m.variable}=…; secrets and deployment values come only from the environment`,
    };
  }));
}

/** Removes the values at the given dotted paths, so unset variables read as absent, not as "". */
function dropPaths(value: unknown, paths: string[]): unknown {
  const drop = new Set(paths);
  const walk = (v: unknown, at: string): unknown => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v)
      .filter(([k]) => !drop.has(at ? `${at}.${k}` : k))
      .map(([k, item]) => [k, walk(item, at ? `${at}.${k}` : k)]));
  };
  return walk(value, '');
}
