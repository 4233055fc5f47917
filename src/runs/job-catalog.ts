/**
 * The jobs `herald serve` knows: every YAML file in the jobs folder, found by the `name` inside
 * it. Read again on each lookup, so an edited job takes effect without a restart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadJob, type LoadedJob } from '../config/load.js';
import { parseYaml } from '../config/yaml-file.js';
import { ConfigError } from '../errors.js';

export class JobNotFound extends Error {
  constructor(readonly job: string, readonly known: string[]) {
    super(`no job named "${job}" in the jobs folder${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`);
  }
}

export class JobCatalog {
  constructor(private readonly dir: string, private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** The job's files by the name they declare; a file that does not parse is left out. */
  private files(): Map<string, string> {
    const byName = new Map<string, string>();
    let entries: string[];
    try {
      entries = readdirSync(this.dir).filter((f) => /\.ya?ml$/.test(f)).sort();
    } catch {
      return byName;
    }
    for (const entry of entries) {
      const file = join(this.dir, entry);
      try {
        const name = (parseYaml(readFileSync(file, 'utf8'), file).data as { name?: unknown } | null)?.name;
        if (typeof name === 'string' && !byName.has(name)) byName.set(name, file);
      } catch {
        // not YAML at all: it declares no name
      }
    }
    return byName;
  }

  /** The job, loaded and validated; ConfigError with its problems when its file is wrong. */
  get(name: string): LoadedJob {
    const files = this.files();
    const file = files.get(name);
    if (!file) throw new JobNotFound(name, [...files.keys()]);
    return loadJob(file, this.env);
  }

  /** Every job that loads, and the problems of those that do not. */
  all(): { jobs: LoadedJob[]; broken: ConfigError[] } {
    const jobs: LoadedJob[] = [];
    const broken: ConfigError[] = [];
    for (const file of this.files().values()) {
      try {
        jobs.push(loadJob(file, this.env));
      } catch (err) {
        if (err instanceof ConfigError) broken.push(err);
        else throw err;
      }
    }
    return { jobs, broken };
  }
}
