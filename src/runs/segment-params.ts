/**
 * The `params` of a run request checked against the job's SQL: a name the SQL does not use is a
 * caller's typo (`sinc` for `since`) that would otherwise be dropped silently while the job's
 * default is bound instead.
 */
import type { LoadedJob } from '../config/load.js';
import { bindNamedParams, MissingParameterError } from '../warehouse/named-params.js';

export class UnknownParams extends Error {
  constructor(readonly job: string, readonly unknown: readonly string[], readonly known: readonly string[]) {
    super(`unknown param${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}: the SQL of job ${job} takes ` +
      (known.length > 0 ? `${known.map((n) => `:${n}`).join(', ')}` : 'no parameters'));
  }
}

/** The `:name` parameters of the job's SQL, in order of first use. */
export function sqlParameters(loaded: LoadedJob): string[] {
  // Bound with no values, every parameter is missing: the binder's own scan (which skips
  // literals, comments and casts) names them all.
  try {
    bindNamedParams(loaded.sql, {});
    return [];
  } catch (err) {
    if (err instanceof MissingParameterError) return err.missing;
    throw err;
  }
}

export function checkParams(loaded: LoadedJob, params: Readonly<Record<string, unknown>> | undefined): void {
  if (!params) return;
  const known = sqlParameters(loaded);
  const unknown = Object.keys(params).filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new UnknownParams(loaded.job.name, unknown, known);
}
